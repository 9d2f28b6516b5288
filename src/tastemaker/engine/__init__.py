"""The online recommendation engine: the service that the HTTP layer (``serving/``), the simulator and
the CLI all call.

It holds what answering needs without HTTP: the catalog and the loaded model set, every listener's
listening kept in step with the store, the precomputed lists, the snapshot they make together, and
the recommendation service with its fallbacks (model, precomputed, popularity); plus ingesting a
batch of client events and onboarding a listener. It never imports the HTTP layer.
"""
