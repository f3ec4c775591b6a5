"""Benchmarks of the Dongui services (`make bench`, `make bench-quick`): see docs/benchmarks.md."""
