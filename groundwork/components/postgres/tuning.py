"""Tuning derived from a host's memory and CPUs: pure functions, shared by
the deploys (which write the values) and the verify tests (which check them)."""

from __future__ import annotations

MB = 1024 * 1024
GB = 1024 * MB

# Changing these needs a server restart; everything else a reload.
POSTGRES_RESTART_ONLY = frozenset({
    "listen_addresses", "port", "max_connections", "shared_buffers", "huge_pages",
    "max_worker_processes", "wal_buffers", "shared_preload_libraries", "max_wal_senders",
    "max_replication_slots", "wal_level", "hot_standby", "max_prepared_transactions",
})


def pg_size(n_bytes: int) -> str:
    """The largest whole unit PostgreSQL accepts, rounded down to whole
    megabytes above one: 6GB, 6026MB, 64kB."""
    if n_bytes >= MB:
        n_bytes -= n_bytes % MB
    for unit, size in (("GB", GB), ("MB", MB)):
        if n_bytes >= size and n_bytes % size == 0:
            return f"{n_bytes // size}{unit}"
    return f"{max(64, n_bytes // 1024)}kB"


def postgres_tuning(memory_bytes: int, cpus: int, max_connections: int, storage: str) -> dict[str, str]:
    """pgtune's "web application" profile.

    shared_buffers RAM/4, effective_cache_size 3/4 RAM, maintenance_work_mem
    RAM/16 capped at 2 GB, wal_buffers 3% of shared_buffers (16 MB at most),
    work_mem (RAM - shared_buffers) / (3 × max_connections) / parallel workers
    per gather (4 MB at least), parallel workers from the CPU count.
    """
    ram = (memory_bytes // MB) * MB  # whole megabytes, so values print exactly
    shared_buffers = ram // 4
    workers_per_gather = max(1, min(4, cpus // 2))
    work_mem = max(4 * MB, (ram - shared_buffers) // (3 * max_connections) // workers_per_gather)
    wal_buffers = min(16 * MB, max(64 * 1024, shared_buffers * 3 // 100))
    ssd = storage == "ssd"
    return {
        "max_connections": str(max_connections),
        "shared_buffers": pg_size(shared_buffers),
        "effective_cache_size": pg_size(ram * 3 // 4),
        "maintenance_work_mem": pg_size(min(2 * GB, ram // 16)),
        "checkpoint_completion_target": "0.9",
        "wal_buffers": pg_size(wal_buffers // 1024 * 1024),
        "default_statistics_target": "100",
        "random_page_cost": "1.1" if ssd else "4",
        "effective_io_concurrency": "200" if ssd else "2",
        "work_mem": pg_size(work_mem // 1024 * 1024),
        "huge_pages": "try",
        "min_wal_size": "1GB",
        "max_wal_size": "4GB",
        "max_worker_processes": str(max(8, cpus)),
        "max_parallel_workers_per_gather": str(workers_per_gather),
        "max_parallel_workers": str(max(2, cpus)),
        "max_parallel_maintenance_workers": str(workers_per_gather),
    }
