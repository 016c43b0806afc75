"""The local stack: real Apache Kafka (KRaft) and a Confluent-compatible registry on loopback,
fetched from Maven Central and run with the machine's Java, plus the topic catalogue."""
