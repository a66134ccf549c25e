//! The OpenAPI 3.1 document, generated from the code: every route is registered through
//! `utoipa_axum::routes!`, so the router and the document are built from the same
//! `#[utoipa::path]` annotations. Served at `GET /api/openapi.json`, with Swagger UI (its
//! assets embedded in the binary) at `/api/docs`.
//!
//! The answers every route can give (bad input caught by the middleware, sign-in, rates,
//! timeouts, internal errors) are added here once, in the error envelope, instead of on each
//! route.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

/// Path of the document.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Path of the interactive page.
pub const DOCS_PATH: &str = "/api/docs";

/// Every error answer: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `ERR_CSV_VALIDATION`, `not_found`, `rate_limited`.
    #[schema(example = "ERR_CSV_VALIDATION")]
    pub code: String,
    /// What went wrong, for a person (values echoed are cut to 100 characters).
    pub message: String,
    /// Code-specific details: e.g. `{errors: [{row, column, field, symbol, code, message}],
    /// total_errors}` for a CSV validation failure, `{field}` for a form field,
    /// `{retry_after_secs}` for a rate limit; `null` when there is nothing more.
    pub details: Value,
    /// On 5xx answers only: the request id (also in the `x-request-id` header), which the
    /// api's log lines carry.
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

/// The document's frame: title, version, tags, security schemes and the shared answers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SigmaSight batch engine API",
        description = "CSV onboarding, run status and logs, live updates, analytics reads and \
                       the admin batch controls. Errors always use the error envelope.",
        license(name = "MIT")
    ),
    components(schemas(ErrorEnvelope, ErrorDetail)),
    tags(
        (name = "onboarding", description = "Upload a CSV, follow the run, retry"),
        (name = "portfolios", description = "Recalculate and batch status (original frontend)"),
        (name = "analytics", description = "Computed analytics of a portfolio"),
        (name = "market-data", description = "Stored market data of a symbol"),
        (name = "admin", description = "Daily batch control (admin claim required)"),
        (name = "operations", description = "Probes, metrics, this document, the status page")
    )
)]
pub struct ApiDoc;

/// Adds the security schemes and, to every operation, the answers any route can give.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT: RS256/ES256 verified against SIGMASIGHT_JWKS_URL (Clerk), or \
                         HS256 with SIGMASIGHT_JWT_SECRET (dev and tests).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "The same JWT as a query parameter, for the endpoints a browser opens without \
                 headers (the event stream, the log download).",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_shared_answers(operation);
            }
        }
    }
}

fn envelope(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
        )
        .build()
        .into()
}

/// The answers the middleware and extractors give on any route: 400 for a control character
/// in the path or query, 401/429 on signed-in routes, 503 for a request timeout and 500.
fn add_shared_answers(operation: &mut Operation) {
    let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| envelope(description));
    };
    add(
        "400",
        "Bad input: a malformed path, query or body (ERR_PATH, ERR_QUERY, ERR_JSON), or a \
         control character in the path or query",
    );
    if signed_in {
        add(
            "401",
            "No token, or a bad, expired or forged one (unauthorized)",
        );
        add(
            "429",
            "Over the per-user request rate (rate_limited), with Retry-After",
        );
    }
    add(
        "503",
        "The request took longer than the request timeout (request_timeout), or the JWKS \
         host is down (auth_unavailable)",
    );
    add(
        "500",
        "Internal error (internal_error); the envelope carries the request id",
    );
}

/// The whole document: the frame merged with every route's annotations, and the two
/// routes [`docs`] serves.
pub fn document(routes: Document) -> Document {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes);
    for (path, description, content_type) in [
        (
            DOCUMENT_PATH,
            "This document (OpenAPI 3.1)",
            "application/json",
        ),
        (
            DOCS_PATH,
            "Swagger UI over this document (assets embedded)",
            "text/html; charset=utf-8",
        ),
    ] {
        let operation = utoipa::openapi::path::OperationBuilder::new()
            .tag("operations")
            .summary(Some(description))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(description)
                    .content(content_type, Content::new(None::<Ref>))
                    .build(),
            )
            .build();
        doc.paths
            .add_path_operation(path, vec![utoipa::openapi::HttpMethod::Get], operation);
    }
    Shared.modify(&mut doc);
    doc
}

/// The document at [`DOCUMENT_PATH`] and Swagger UI at [`DOCS_PATH`] (its assets are in the
/// binary: `utoipa-swagger-ui` with `vendored`).
pub fn docs<S: Clone + Send + Sync + 'static>(routes: Document) -> axum::Router<S> {
    utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH)
        .url(DOCUMENT_PATH, document(routes))
        .into()
}
