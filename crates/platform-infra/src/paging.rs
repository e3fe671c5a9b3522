//! Paging query parameters (`limit`, `offset`) shared by the list endpoints.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::problem::Problem;
use crate::query::{QueryParams, out_of_range};

/// Page size when the client gives none.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page a client may ask for.
pub const MAX_LIMIT: u32 = 1000;
/// Largest offset: what MongoDB's `skip` accepts (a signed 64-bit integer).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u32,
    pub offset: u64,
}

/// The query parameters as documented, from the same constants the parser
/// checks against.
impl utoipa::IntoParams for Paging {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let integer = |format, minimum: u64, maximum: u64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(format)))
                .minimum(Some(minimum))
                .maximum(Some(maximum))
        };
        [
            (
                "limit",
                format!("Page size, 1–{MAX_LIMIT}, default {DEFAULT_LIMIT}"),
                integer(KnownFormat::Int32, 1, u64::from(MAX_LIMIT)),
            ),
            (
                "offset",
                "Items to skip, default 0".to_owned(),
                integer(KnownFormat::Int64, 0, MAX_OFFSET),
            ),
        ]
        .into_iter()
        .map(|(name, description, schema)| {
            utoipa::openapi::path::ParameterBuilder::new()
                .name(name)
                .parameter_in(utoipa::openapi::path::ParameterIn::Query)
                .required(utoipa::openapi::Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        })
        .collect()
    }
}

/// The documented answer to paging parameters out of range: 400 with a
/// problem naming the parameter. Use it in `responses(...)` of a paged route.
pub struct BadPaging;

impl utoipa::IntoResponses for BadPaging {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        let problem = utoipa::openapi::content::ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
            .build();
        let response = utoipa::openapi::response::ResponseBuilder::new()
            .description("Bad paging parameters")
            .content(crate::problem::PROBLEM_JSON, problem)
            .build();
        [("400".to_owned(), response.into())].into()
    }
}

#[derive(Debug, Deserialize)]
struct RawPaging {
    limit: Option<u32>,
    offset: Option<u64>,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let QueryParams(raw) = QueryParams::<RawPaging>::from_request_parts(parts, state).await?;
        let limit = raw.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(out_of_range(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = raw.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(out_of_range(
                "offset",
                format!("must be between 0 and {MAX_OFFSET}"),
            ));
        }
        Ok(Paging { limit, offset })
    }
}
