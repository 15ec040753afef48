"""Fault injection for the reliability tests: loopback servers that fail, throttle, lie and attack.

Modules: ``listener`` (a bounded, self-stopping threaded HTTP/1.1 listener on 127.0.0.1),
``proxy`` (:class:`~tests.faults.proxy.FaultProxy`: between regimage and the real lab registry and
its token server, injecting faults per rule), ``server`` (:class:`~tests.faults.server.ScriptedServer`:
a tiny hostile registry whose every answer a test writes), ``documents`` (hostile manifests,
indexes and configs built with real digests).
"""
