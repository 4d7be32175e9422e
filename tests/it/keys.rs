//! CONTRACT §5 (as far as the relay core needs): admin auth, creating and listing keys.

use serde_json::json;

use crate::support::{request, FakeYouTube, TestServer};

#[test]
fn admin_auth_is_503_unset_401_missing_403_wrong() {
    let fake = FakeYouTube::start();
    let off = TestServer::start(&fake.url(), &[("ADMIN_KEY", "")]);
    assert_eq!(off.admin("GET", "/keys", None).status, 503);
    assert!(off.log().contains("ADMIN_KEY=unset"));
    let srv = TestServer::start(&fake.url(), &[]);
    assert_eq!(request(srv.addr, "GET", "/keys", &[], None).status, 401);
    assert_eq!(
        request(srv.addr, "GET", "/keys", &[("X-Admin-Key", "wrong")], None).status,
        403
    );
    assert_eq!(srv.admin("GET", "/keys", None).status, 200);
}

#[test]
fn keys_are_created_with_the_contract_shape_and_listed_oldest_first() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let r = srv.admin("POST", "/keys", Some(&json!({ "owner": "Choir", "key": "choir-key", "expires": "2030-01-02", "daily_limit": 10, "lifetime_limit": null })));
    assert_eq!(r.status, 201, "{}", r.body);
    let k = r.json();
    for field in [
        "key",
        "owner",
        "email",
        "active",
        "created_at",
        "expires_at",
        "daily_limit",
        "lifetime_limit",
        "lifetime_used",
        "revoked_at",
    ] {
        assert!(k.get(field).is_some(), "missing {field}");
    }
    assert_eq!(k["key"], json!("choir-key"));
    assert_eq!(k["active"], json!(1));
    assert_eq!(k["expires_at"], json!("2030-01-02T00:00:00.000Z"));
    assert_eq!(
        (k["daily_limit"].clone(), k["lifetime_limit"].clone()),
        (json!(10), json!(null))
    );
    assert!(k["created_at"]
        .as_str()
        .is_some_and(|c| c.ends_with('Z') && c.len() == 24));
    let generated = srv
        .admin("POST", "/keys", Some(&json!({ "owner": "School" })))
        .json();
    let uuid = generated["key"].as_str().unwrap_or_default();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"));
    let dup = srv.admin(
        "POST",
        "/keys",
        Some(&json!({ "owner": "Again", "key": "choir-key" })),
    );
    assert_eq!(dup.status, 409);
    for bad in [
        json!({}),
        json!({ "owner": "" }),
        json!({ "owner": "x", "key": "" }),
        json!({ "owner": "x", "expires": "soon" }),
        json!({ "owner": "x", "daily_limit": -1 }),
    ] {
        assert_eq!(srv.admin("POST", "/keys", Some(&bad)).status, 400, "{bad}");
    }
    let list = srv.admin("GET", "/keys", None).json();
    let keys: Vec<&str> = list["keys"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec!["choir-key", uuid]);
    let one = srv.admin("GET", "/keys/choir-key", None).json();
    assert_eq!(one["daily_used"], json!(0));
    assert_eq!(srv.admin("GET", "/keys/nope", None).status, 404);
}
