"""Channel connectors: phone (AMI), app/web (Segment), WeChat, branch, agent desktop.

Each accepts its channel's native feed and publishes canonical ``InteractionEvent`` records
to Kafka, answering the source only once Kafka acknowledged them.
"""
