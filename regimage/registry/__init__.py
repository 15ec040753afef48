"""The OCI Distribution client: RegistryProvider, its session, auth and credentials."""
