//! The OpenAPI document: the checked-in copy matches the code, the server
//! serves it without a token, and it names every answer the API gives and
//! every field of the contract.

use std::path::PathBuf;
use std::process::Command;

use crate::support::*;
use serde_json::Value;

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("infra/openapi.json")
}

fn generated() -> String {
    let out = Command::new(BIN).arg("openapi").output().expect("run openapi");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn document() -> Value {
    serde_json::from_str(&generated()).unwrap()
}

#[test]
fn checked_in_document_matches_the_code() {
    let fresh = generated();
    let path = checked_in_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "infra/openapi.json differs from the document the code generates.\n\
         Regenerate it with `UPDATE_OPENAPI=1 cargo test --test openapi` \
         (or `cargo run -- openapi > infra/openapi.json`) and commit it."
    );
}

#[tokio::test]
async fn the_server_serves_the_document_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let resp = reqwest::get(server.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), generated());
}

/// (method, path, statuses) for every operation; the statuses are every
/// answer the handler, its extractors and the service can give.
const OPERATIONS: &[(&str, &str, &[&str])] = &[
    ("get", "/api/v1/bufdir-exports", &["200", "400", "401", "500", "503"]),
    ("post", "/api/v1/bufdir-exports", &["202", "400", "401", "403", "413", "415", "422", "429", "500", "503"]),
    ("get", "/api/v1/bufdir-exports/{export_id}", &["200", "401", "404", "500", "503"]),
    ("delete", "/api/v1/bufdir-exports/{export_id}", &["200", "401", "404", "500", "503"]),
    (
        "put",
        "/api/v1/bufdir-exports/{export_id}/cancel",
        &["200", "400", "401", "404", "409", "413", "422", "500", "503"],
    ),
    ("post", "/api/v1/bufdir-exports/{export_id}/retry", &["200", "401", "404", "409", "429", "500", "503"]),
    ("get", "/api/v1/bufdir-exports/{export_id}/file", &["302", "401", "404", "409", "410", "500", "503"]),
    ("get", "/files/{key}", &["200", "403"]),
    ("get", "/api/v1/activity-imports", &["200", "400", "401", "500", "503"]),
    ("post", "/api/v1/activity-imports", &["201", "400", "401", "403", "413", "415", "422", "500", "503"]),
    ("get", "/api/v1/activity-imports/{import_id}", &["200", "401", "404", "500", "503"]),
    ("get", "/api/v1/activity-imports/templates/{name}", &["200", "401", "404", "500", "503"]),
    ("put", "/uploads/{key}", &["201", "403", "409", "413", "503"]),
    ("get", "/api/v1/activities", &["200", "400", "401", "403", "422", "500", "503"]),
    ("put", "/api/v1/activities", &["200", "400", "401", "403", "413", "415", "422", "500", "503"]),
    ("delete", "/api/v1/activities/{activity_id}", &["200", "401", "403", "404", "422", "500", "503"]),
    ("get", "/api/v1/organisations/{org_id}", &["200", "401", "404", "500", "503"]),
    ("put", "/api/v1/organisations/{org_id}", &["200", "400", "401", "404", "413", "415", "422", "500", "503"]),
    (
        "delete",
        "/api/v1/organisations/{org_id}/data",
        &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503"],
    ),
    ("post", "/api/v1/attachments", &["201", "400", "401", "403", "413", "415", "422", "500", "503"]),
    ("get", "/api/v1/webhook-endpoints", &["200", "400", "401", "403", "422", "500", "503"]),
    ("post", "/api/v1/webhook-endpoints", &["201", "400", "401", "403", "409", "413", "415", "422", "500", "503"]),
    ("get", "/api/v1/webhook-endpoints/{endpoint_id}", &["200", "401", "404", "500", "503"]),
    (
        "patch",
        "/api/v1/webhook-endpoints/{endpoint_id}",
        &["200", "400", "401", "404", "413", "415", "422", "500", "503"],
    ),
    ("delete", "/api/v1/webhook-endpoints/{endpoint_id}", &["200", "401", "404", "500", "503"]),
    (
        "post",
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        &["200", "400", "401", "404", "413", "422", "500", "503"],
    ),
    ("get", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries", &["200", "400", "401", "404", "500", "503"]),
];

#[test]
fn every_operation_documents_each_answer_and_its_authorisation() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        serde_json::json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": doc["components"]["securitySchemes"]["bearer"]["description"]})
    );
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        count += item.as_object().unwrap().len();
        for (method, _) in item.as_object().unwrap() {
            assert!(OPERATIONS.iter().any(|(m, p, _)| m == method && p == path), "undocumented here: {method} {path}");
        }
    }
    assert_eq!(count, OPERATIONS.len());
    for (method, path, statuses) in OPERATIONS {
        let responses =
            doc["paths"][path][method]["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} missing"));
        let mut got: Vec<&str> = responses.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, *statuses, "{method} {path}");
        for (status, response) in responses {
            assert!(response["headers"]["X-Request-Id"].is_object(), "{method} {path} {status}: X-Request-Id");
            if status.starts_with('3') {
                assert!(response["headers"]["Location"].is_object(), "{method} {path} {status}: Location");
                assert!(response.get("content").is_none(), "{method} {path} {status}: a redirect has no body");
                continue;
            }
            let content = response["content"].as_object().unwrap();
            if (path.starts_with("/files/") || path.contains("/templates/")) && status == "200" {
                assert!(
                    content.contains_key("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                    "{content:?}"
                );
            } else if status.starts_with('2') {
                assert!(content["application/json"]["schema"]["$ref"].is_string(), "{method} {path} {status}");
            } else {
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    let created = &doc["paths"]["/api/v1/bufdir-exports"]["post"]["responses"]["202"];
    assert!(created["headers"]["Location"].is_object());
    for (name, op) in ["GetExport", "CancelExport", "RetryExport", "DeleteExport"].iter().zip([
        "get_export",
        "cancel_export",
        "retry_export",
        "delete_export",
    ]) {
        assert_eq!(
            created["links"][name],
            serde_json::json!({"operationId": op, "parameters": {"export_id": "$response.body#/export_id"}})
        );
    }
    assert!(doc["paths"]["/api/v1/bufdir-exports"]["post"]["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(
        doc["paths"]["/api/v1/bufdir-exports"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"].is_object()
    );
    // A download link needs no token: the signature is the authorisation.
    assert_eq!(doc["paths"]["/files/{key}"]["get"]["security"], serde_json::json!([{}]));
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

fn assert_fields(doc: &Value, name: &str, fields: &[&str]) {
    let s = schema(doc, name);
    let required: Vec<&str> =
        s["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    for f in fields {
        assert!(s["properties"][f].is_object(), "{name} lacks {f}");
        assert!(required.contains(f), "{name}.{f} is always sent, so it is required");
    }
}

/// The fields of every example in the API contract, schema by schema.
#[test]
fn the_contract_fields_are_all_in_the_document() {
    let doc = document();
    let summary = ["export_id", "org_id", "status", "format", "period_from", "period_to", "created_at", "completed_at"];
    assert_fields(&doc, "ExportSummaryBody", &summary);
    assert_fields(&doc, "ExportListBody", &["data", "pagination"]);
    assert_fields(&doc, "PaginationBody", &["page", "limit", "total"]);
    let mut detail = summary.to_vec();
    detail.extend(["activity_types", "file_url", "file_expires_at", "error_message", "error_code", "history"]);
    assert_fields(&doc, "ExportDetailBody", &detail);
    let codes: Vec<&str> = doc["components"]["schemas"]["FailureCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let known: Vec<&str> = shared::domain::FailureCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, known, "the document lists every failure code");
    assert_fields(&doc, "CreatedBody", &["export_id", "status", "estimated_duration_seconds", "created_at"]);
    assert_fields(&doc, "CancelledBody", &["export_id", "status", "cancelled_at"]);
    assert_fields(&doc, "RetriedBody", &["export_id", "status", "retry_count", "queued_at"]);
    assert_fields(&doc, "DeletedBody", &["deleted", "export_id"]);
    assert_fields(&doc, "Problem", &["type", "title", "status", "detail", "instance", "code", "request_id"]);
    let codes =
        schema(&doc, "Problem")["properties"]["code"]["enum"].as_array().expect("the stable codes are listed").clone();
    for code in
        ["validation_failed", "unauthorized", "export_not_found", "invalid_transition", "too_many_exports_in_flight"]
    {
        assert!(codes.contains(&Value::from(code)), "{code}");
    }

    let create = schema(&doc, "CreateExportRequest");
    for f in [
        "org_id",
        "format",
        "period_from",
        "period_to",
        "activity_types",
        "include_attachments",
        "submit_to_bufdir_api",
    ] {
        assert!(create["properties"][f].is_object(), "create request lacks {f}");
    }
    assert_eq!(create["additionalProperties"], false, "unknown fields are refused");
    assert_eq!(schema(&doc, "CancelRequest")["additionalProperties"], false);
    assert!(schema(&doc, "CancelRequest")["properties"]["reason"].is_object());

    assert_eq!(
        schema(&doc, "ExportStatus")["enum"],
        serde_json::json!(["queued", "running", "completed", "failed", "cancelled"])
    );
    assert_eq!(schema(&doc, "ExportFormat")["enum"], serde_json::json!(["excel", "csv", "json"]));
    let types = schema(&doc, "ActivityType")["enum"].as_array().unwrap().clone();
    for t in ["group_session", "individual_counseling"] {
        assert!(types.contains(&Value::from(t)), "{t}");
    }
    let list_params: Vec<&str> = doc["paths"]["/api/v1/bufdir-exports"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(list_params, ["page", "limit", "status", "format"]);
}
