//! `IncrementalAlterConfigs` (Kafka API 44) over a plain TCP connection.
//!
//! librdkafka has the API, but rdkafka 0.39 exposes only the legacy
//! `AlterConfigs` (API 33), which the local broker (tansu 0.6) does not
//! implement. Apache Kafka has supported API 44 since 2.3, so on a plaintext
//! listener this one request corrects a topic's configs on both. A secured
//! cluster (SASL_SSL, Confluent Cloud) is altered through rdkafka instead.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Version 0: plain (not "flexible") encoding, which every broker since Kafka
/// 2.3 and tansu accept.
const VERSION: i16 = 0;
/// `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;
/// `AlterConfigOp.OpType.SET`.
const OP_SET: i8 = 0;
/// Longest wait for the connection and for the answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sets `configs` on `topic` through the first broker of `bootstrap` (a
/// comma-separated `host:port` list) that accepts a connection.
pub async fn set_topic_configs(
    bootstrap: &str,
    topic: &str,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string((*name).to_owned()))
                            .with_config_operation(OP_SET)
                            .with_value(Some(StrBytes::from_string((*value).to_owned())))
                    })
                    .collect(),
            ),
    ]);
    let mut last_error = None;
    for address in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match tokio::time::timeout(TIMEOUT, exchange(address, &request)).await {
            Ok(Ok(response)) => return check(&response, topic),
            Ok(Err(e)) => last_error = Some(e.context(format!("broker {address}"))),
            Err(_) => last_error = Some(anyhow::anyhow!("broker {address} timed out")),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no broker address in {bootstrap:?}")))
}

fn check(response: &IncrementalAlterConfigsResponse, topic: &str) -> anyhow::Result<()> {
    let Some(result) = response.responses.first() else {
        bail!("the broker answered with no result for {topic}");
    };
    if result.error_code != 0 {
        bail!(
            "the broker refused to alter {topic}: error {} {}",
            result.error_code,
            result.error_message.as_ref().map_or("", |m| m.as_str())
        );
    }
    Ok(())
}

async fn exchange(
    address: &str,
    request: &IncrementalAlterConfigsRequest,
) -> anyhow::Result<IncrementalAlterConfigsResponse> {
    let correlation_id = 1;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::IncrementalAlterConfigs as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("platform-topic-admin")));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header.encode(
        &mut frame,
        IncrementalAlterConfigsRequest::header_version(VERSION),
    )?;
    request.encode(&mut frame, VERSION)?;
    let size = i32::try_from(frame.len() - 4).context("request too large")?;
    frame[..4].copy_from_slice(&size.to_be_bytes());

    let mut stream = TcpStream::connect(address)
        .await
        .context("cannot connect")?;
    stream.write_all(&frame).await?;
    let size = usize::try_from(stream.read_i32().await?).context("negative response size")?;
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body).await?;
    let mut body = bytes::Bytes::from(body);
    let header = ResponseHeader::decode(
        &mut body,
        IncrementalAlterConfigsResponse::header_version(VERSION),
    )?;
    if header.correlation_id != correlation_id {
        bail!("answer to another request ({})", header.correlation_id);
    }
    let response = IncrementalAlterConfigsResponse::decode(&mut body, VERSION)?;
    if body.has_remaining() {
        tracing::debug!(
            left = body.remaining(),
            "unread bytes after the alter-configs answer"
        );
    }
    Ok(response)
}
