"""Content by descriptor: the Provider protocols, memory and disk stores, OCI image layouts.
No httpx."""
