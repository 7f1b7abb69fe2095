"""The chaos harness's parts that run without a cluster: the fault schedule
drawn from a seed (`schedule`), the workload's ledger files (`ledger`), the
workload's schedulers (`workload`, run inside framework actors), the
invariants checked over what the ledger recorded (`invariants`) and the
report (`report`). `bench/chaos.py` runs them against a real cluster."""
