//! Who is asking: session JWTs (HS256 only, claims `{sessionId, jti, iat}`, never a key),
//! bearer / `?token=` extraction, and the constant-time admin key check.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::secret::{constant_time_eq, AdminKey, JwtSecret, Token};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "sessionId")]
    pub session_id: String,
    pub jti: String,
    pub iat: i64,
}

pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Jwt {
    pub fn new(secret: &JwtSecret) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        // Validity is the session instance's life (its jti), not a clock: no exp claim.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        Jwt {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> ApiResult<Token> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map(Token::new)
            .map_err(|e| ApiError::internal(format!("jwt encode: {e}")))
    }

    /// The claims of a well-formed HS256 token signed with our secret.
    pub fn verify(&self, token: &str) -> ApiResult<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::unauthorized("Invalid token"))
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, or `?token=` when allowed.
pub fn bearer(req: &Req, allow_query: bool) -> ApiResult<&str> {
    if let Some(h) = req.header("authorization") {
        let mut parts = h.trim().splitn(2, ' ');
        return match (parts.next(), parts.next()) {
            (Some(scheme), Some(tok))
                if scheme.eq_ignore_ascii_case("bearer") && !tok.trim().is_empty() =>
            {
                Ok(tok.trim())
            }
            _ => Err(ApiError::unauthorized(
                "Authorization header must be 'Bearer <token>'",
            )),
        };
    }
    if allow_query {
        if let Some(tok) = req.query("token").filter(|t| !t.is_empty()) {
            return Ok(tok);
        }
    }
    Err(ApiError::unauthorized("Missing bearer token"))
}

/// Admin auth: unset `ADMIN_KEY` → 503, header missing → 401, wrong → 403.
pub fn require_admin(req: &Req, admin: Option<&AdminKey>) -> ApiResult<()> {
    let Some(admin) = admin else {
        return Err(ApiError::unavailable(
            "Admin API is disabled (ADMIN_KEY is not set)",
        ));
    };
    match req.header("x-admin-key") {
        None => Err(ApiError::unauthorized("Missing X-Admin-Key header")),
        Some(given) if constant_time_eq(given.as_bytes(), admin.expose().as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Forbidden("Invalid admin key".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn jwt() -> Jwt {
        Jwt::new(&JwtSecret::new("test-secret"))
    }

    fn claims() -> Claims {
        Claims {
            session_id: "0123456789abcdef".into(),
            jti: "j1".into(),
            iat: 1,
        }
    }

    #[test]
    fn tokens_round_trip_and_carry_no_keys() {
        let tok = jwt().issue(&claims()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(jwt().verify(tok.expose()), Ok(claims()));
        let payload = tok
            .expose()
            .split('.')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(!payload.is_empty());
    }

    #[test]
    fn rejects_other_secrets_algorithms_and_garbage() {
        let other = Jwt::new(&JwtSecret::new("other")).issue(&claims());
        let other = other.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(jwt().verify(other.expose()).is_err());
        // {"alg":"none","typ":"JWT"} . {"sessionId":"x","jti":"y","iat":1} . (no signature)
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzZXNzaW9uSWQiOiJ4IiwianRpIjoieSIsImlhdCI6MX0.";
        assert!(jwt().verify(none).is_err());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(),
            &EncodingKey::from_secret(b"test-secret"),
        )
        .unwrap_or_default();
        assert!(jwt().verify(&hs512).is_err());
        for junk in ["", "abc", "a.b.c", "....."] {
            assert!(jwt().verify(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn bearer_extraction() {
        let with = |h: Vec<(String, String)>, url: &str| Req::new(Method::Get, url, h, vec![]);
        let auth = |v: &str| vec![("Authorization".to_string(), v.to_string())];
        assert_eq!(bearer(&with(auth("Bearer abc"), "/"), false), Ok("abc"));
        assert_eq!(bearer(&with(auth("bearer  abc "), "/"), false), Ok("abc"));
        assert!(bearer(&with(auth("Basic abc"), "/"), false).is_err());
        assert!(bearer(&with(vec![], "/events?token=t"), false).is_err());
        assert_eq!(bearer(&with(vec![], "/events?token=t"), true), Ok("t"));
        assert!(bearer(&with(vec![], "/events?token="), true).is_err());
    }

    #[test]
    fn admin_check_statuses() {
        let key = AdminKey::new("adm");
        let req = |v: Option<&str>| {
            let h = v
                .map(|v| vec![("X-Admin-Key".to_string(), v.to_string())])
                .unwrap_or_default();
            Req::new(Method::Get, "/keys", h, vec![])
        };
        let status = |r: ApiResult<()>| r.err().map(|e| e.status());
        assert_eq!(status(require_admin(&req(Some("adm")), None)), Some(503));
        assert_eq!(status(require_admin(&req(None), Some(&key))), Some(401));
        assert_eq!(
            status(require_admin(&req(Some("nope")), Some(&key))),
            Some(403)
        );
        assert_eq!(status(require_admin(&req(Some("adm")), Some(&key))), None);
    }
}
