"""The registry lab: real CNCF Distribution registries on loopback, seeded with a known corpus.

Modules: ``lab`` (Lab, LabRegistry: start, attach, stop), ``fixtures`` (the pytest fixtures),
``corpus`` + ``expected`` (what is pushed, and the answers regimage must give), ``builder``
(deterministic images, pushing), ``seed`` + ``storage`` (seeding once), ``registry`` (processes),
``token_server``, ``tls``, ``skopeo`` (the independent oracle), ``client``/``rawhttp`` (plain HTTP
clients that share no code with regimage). ``python -m tests.lab`` runs it outside pytest.
Kept free of imports: the token server process starts from this package too.
"""
