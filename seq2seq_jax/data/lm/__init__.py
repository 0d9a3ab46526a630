"""Language-modelling data: a corpus as split -> lines (:mod:`.corpus`), its vocabulary
and token stream (:mod:`.vocab`), and the stream cut into batch rows and truncated-BPTT
windows (:mod:`.stream`)."""
