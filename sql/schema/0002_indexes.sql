-- Lookups by key for /stats, erasure and purges.
CREATE INDEX IF NOT EXISTS idx_session_stats_api_key ON session_stats (api_key);
CREATE INDEX IF NOT EXISTS idx_caption_errors_api_key ON caption_errors (api_key);
CREATE INDEX IF NOT EXISTS idx_auth_events_api_key ON auth_events (api_key);
