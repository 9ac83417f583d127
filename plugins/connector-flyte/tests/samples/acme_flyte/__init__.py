"""acme-flyte: a Flyte 2 connector package, written against ``flyte.connectors`` as a third party would."""
