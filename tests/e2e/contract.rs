//! The OpenAPI document is a contract: after a real onboarding, every JSON answer of every
//! documented read (and of the upload, calculate and an error of each kind) is valid against
//! the schema the document gives for its status, so the document cannot drift from the code.

use serde_json::{json, Value};
use sigmasight_tests::{example_csv, start_worker, Api, TestDb};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// The schema of `method path`'s `status` answer in `media` (None when it has none).
fn schema<'a>(
    doc: &'a Value,
    method: &str,
    path: &str,
    status: u16,
    media: &str,
) -> Option<&'a Value> {
    let s =
        &doc["paths"][path][method]["responses"][status.to_string()]["content"][media]["schema"];
    (!s.is_null()).then_some(s)
}

/// Checks `body` against `schema`, whose `$ref`s point into the document's components.
fn check(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let errors = violations(doc, schema, body, what);
    assert!(errors.is_empty(), "{what}: {errors:?}\n{body:#}");
}

/// What is wrong with `body` under `schema` (the first five problems).
fn violations(doc: &Value, schema: &Value, body: &Value, what: &str) -> Vec<String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect()
}

#[tokio::test]
async fn every_json_answer_matches_the_documented_schema() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let _worker = start_worker(&db.url, &[])?;
    let doc: Value = api
        .client
        .get(format!("{}/api/openapi.json", api.base))
        .send()
        .await?
        .json()
        .await?;

    let (code, created) = api
        .upload("alice", "Contract", "demo_portfolio.csv", example_csv())
        .await?;
    assert_eq!(code, 201, "{created}");
    let upload = "/api/v1/onboarding/create-portfolio";
    let s = schema(&doc, "post", upload, 201, "application/json").expect("201 schema");
    check(&doc, s, &created, "upload 201");
    // The check has teeth: a missing field or a wrong type is caught, through the `$ref`s.
    let mut broken = created.clone();
    broken.as_object_mut().map(|o| o.remove("run_id"));
    broken["next_step"]["endpoint"] = json!(42);
    assert_eq!(violations(&doc, s, &broken, "broken").len(), 2);
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let run_id = created["run_id"].as_str().unwrap_or_default().to_owned();
    let status = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(status["status"], "partial", "{status}");

    // Every documented GET with a JSON answer, with real parameters.
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let Some(s) = schema(&doc, "get", path, 200, "application/json") else {
            continue;
        };
        if path == "/api/openapi.json" || path.ends_with("/events") {
            continue;
        }
        let mut uri = path
            .replace("{portfolio_id}", &pid)
            .replace("{run_id}", &run_id)
            .replace("{symbol}", "AAPL");
        uri = if path.starts_with("/api/v1/admin/") {
            uri.replace("{id}", &run_id)
        } else {
            uri.replace("{id}", &pid)
        };
        if path.ends_with("/logs") {
            uri.push_str("?format=json");
        }
        let admin = item["get"]["tags"][0] == "admin";
        let token = if admin {
            Api::admin_token()
        } else {
            Api::token("alice")
        };
        let r = api
            .client
            .get(format!("{}{uri}", api.base))
            .bearer_auth(token)
            .send()
            .await?;
        assert_eq!(r.status(), 200, "GET {uri}");
        let body: Value = r.json().await?;
        check(&doc, s, &body, &format!("GET {path}"));
        checked += 1;
    }
    assert!(checked >= 15, "{checked} reads checked");

    // calculate (202), and an error of each kind against the envelope.
    let calc = format!("/api/v1/portfolios/{pid}/calculate");
    let r = api
        .client
        .post(format!("{}{calc}", api.base))
        .bearer_auth(Api::token("alice"))
        .send()
        .await?;
    assert_eq!(r.status(), 202);
    let s = schema(
        &doc,
        "post",
        "/api/v1/portfolios/{id}/calculate",
        202,
        "application/json",
    )
    .expect("202 schema");
    check(&doc, s, &r.json().await?, "calculate 202");
    let envelope = json!({ "$ref": "#/components/schemas/ErrorEnvelope" });
    let (code, bad) = api
        .upload(
            "alice",
            "Bad",
            "bad.csv",
            b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,x,1.00,2024-01-02\n".to_vec(),
        )
        .await?;
    assert_eq!(code, 422);
    check(&doc, &envelope, &bad, "upload 422");
    let (code, missing) = api
        .get_json("bob", &format!("/api/v1/onboarding/status/{pid}"))
        .await?;
    assert_eq!(code, 404);
    check(&doc, &envelope, &missing, "status 404");
    drop(api);
    db.drop_database().await;
    Ok(())
}
