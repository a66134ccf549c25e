//! The OpenAPI document: valid OpenAPI 3.1, complete (every route of the router is in it and
//! every operation in it is routed), every reference resolves, every error answer is the
//! envelope; and Swagger UI is served from the binary.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use sigmasight_shared::db::MIGRATOR;
use sqlx::PgPool;
use std::collections::BTreeSet;

async fn document(pool: &PgPool) -> (Value, String) {
    let reply = call(pool, "GET", "/api/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (reply.json(), reply.text)
}

/// Every `$ref` string in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// (method, path, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_document_is_valid_openapi_3_1_and_every_reference_resolves(pool: PgPool) {
    let (doc, text) = document(&pool).await;
    let spec = oas3::from_json(&text).expect("parses as an OpenAPI 3.1 document");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1));
    assert!(
        spec.operations().count() >= 29,
        "{}",
        spec.operations().count()
    );

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let pointer = r.strip_prefix('#').expect("local references only");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }

    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(
            id.is_empty() || ids.insert(id.clone()),
            "{what}: operationId {id} twice"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{what}: no tag"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{what}: no success answer"
        );
        // Every path parameter is declared.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(declared, in_path, "{what}: path parameters");
        // Signed-in routes say so and document the sign-in failures.
        let signed_in = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if signed_in {
            for code in ["401", "429"] {
                assert!(responses.contains_key(code), "{what}: no {code}");
            }
        }
        // Every error answer is the envelope.
        for (code, answer) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorEnvelope",
                    "{what} {code}"
                );
            }
        }
    }
    // The upload documents every form field as multipart.
    let form = &doc["paths"]["/api/v1/onboarding/create-portfolio"]["post"]["requestBody"]
        ["content"]["multipart/form-data"]["schema"]["$ref"];
    let form = doc
        .pointer(
            form.as_str()
                .expect("a form schema")
                .trim_start_matches('#'),
        )
        .expect("resolves");
    let fields: BTreeSet<&str> = form["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "csv_file",
            "portfolio_name",
            "account_name",
            "account_type",
            "description",
            "equity_balance"
        ])
    );
    assert_eq!(form["properties"]["csv_file"]["format"], "binary");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_documented_operation_is_routed(pool: PgPool) {
    let (doc, _) = document(&pool).await;
    let admin = token("root", true);
    let some_id = uuid::Uuid::new_v4().to_string();
    for (method, path, _) in operations(&doc) {
        let uri = path
            .replace("{id}", &some_id)
            .replace("{portfolio_id}", &some_id)
            .replace("{run_id}", &some_id)
            .replace("{symbol}", "NOSUCH");
        let reply = call(&pool, &method.to_uppercase(), &uri, Some(&admin)).await;
        // The router's own "no route" is an empty 404 or a 405; every handler's 404 is the
        // envelope.
        assert!(
            reply.status != StatusCode::METHOD_NOT_ALLOWED
                && !(reply.status == StatusCode::NOT_FOUND && reply.text.is_empty()),
            "{method} {path}: not routed ({} {:?})",
            reply.status,
            reply.text
        );
    }
    // And a path the document does not have is not routed.
    let reply = call(&pool, "GET", "/api/v1/nothing-here", Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// The route modules register routes through `utoipa_axum::routes!` only, so the router and
/// the document come from the same annotations: a plain `.route(` would be served but not
/// documented.
#[test]
fn no_route_module_registers_a_route_past_the_document() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/routes") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        // `OpenApiRouter::new()` is the documented router; axum's own is not.
        let text = text.replace("OpenApiRouter::new()", "");
        for needle in [".route(", "Router::new()", ".nest("] {
            assert!(
                !text.contains(needle),
                "{} uses {needle}: register routes with .routes(routes!(handler))",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 12, "{checked} route modules");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn swagger_ui_is_served_from_the_binary(pool: PgPool) {
    let page = call(&pool, "GET", "/api/docs/", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    let initializer = call(&pool, "GET", "/api/docs/swagger-initializer.js", None).await;
    assert_eq!(initializer.status, StatusCode::OK);
    assert!(
        initializer.text.contains("/api/openapi.json"),
        "{}",
        initializer.text
    );
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let reply = call(&pool, "GET", &format!("/api/docs/{asset}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{asset}");
        assert!(
            reply.text.len() > 10_000,
            "{asset}: {} bytes",
            reply.text.len()
        );
    }
}
