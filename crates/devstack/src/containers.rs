//! Opt-in test servers for machines with Docker: real `mongo` and `apache/kafka`
//! containers instead of the local protocol-compatible servers. Enabled by the
//! `containers` feature and `PLATFORM_TEST_CONTAINERS=1`; the fault-injection
//! tests still start their own local servers, because they kill and restart them.

use anyhow::Context;
use testcontainers_modules::kafka::apache;
use testcontainers_modules::mongo::Mongo;
use testcontainers_modules::testcontainers::ContainerAsync;
use testcontainers_modules::testcontainers::runners::AsyncRunner;

use crate::stack::ServerAddresses;

/// Both containers, removed by [`Containers::stop`].
pub struct Containers {
    kafka: ContainerAsync<apache::Kafka>,
    mongo: ContainerAsync<Mongo>,
    addresses: ServerAddresses,
}

impl Containers {
    pub async fn start() -> anyhow::Result<Self> {
        let kafka = apache::Kafka::default()
            .start()
            .await
            .context("cannot start the apache/kafka container (is Docker running?)")?;
        let mongo = Mongo::default()
            .start()
            .await
            .context("cannot start the mongo container")?;
        let addresses = ServerAddresses {
            brokers: format!(
                "127.0.0.1:{}",
                kafka.get_host_port_ipv4(apache::KAFKA_PORT).await?
            ),
            mongodb_uri: format!(
                "mongodb://127.0.0.1:{}/?directConnection=true",
                mongo.get_host_port_ipv4(27017).await?
            ),
        };
        Ok(Containers {
            kafka,
            mongo,
            addresses,
        })
    }

    pub fn addresses(&self) -> ServerAddresses {
        self.addresses.clone()
    }

    pub async fn stop(self) {
        for result in [self.kafka.rm().await, self.mongo.rm().await] {
            if let Err(e) = result {
                eprintln!("devstack: cannot remove a test container: {e}");
            }
        }
    }
}
