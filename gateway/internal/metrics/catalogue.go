package metrics

// Family describes one metric family that Fanout exposes on /metrics:
// its name, its Prometheus type (counter, gauge, histogram, summary) and
// the help text that a scrape carries. Labels and Alert are for the
// operator's table in the README: the labels a series carries, and what
// is worth an alert.
type Family struct {
	Name, Type, Help string
	Labels, Alert    string
}

// Families is every family that Fanout writes, its own first and then the
// Go runtime and process families, in one place: WritePrometheus takes each
// family's # HELP and # TYPE lines from here, so that a family missing from
// it shows up as a lint problem in the metrics test, and the README's table
// is checked against it.
var Families = append(append([]Family(nil), gatewayFamilies...), runtimeFamilies...)

// gatewayFamilies are the families of the gateway's own behaviour.
var gatewayFamilies = []Family{
	{Name: "fanout_request_duration_seconds", Type: "histogram", Labels: "method, route, status",
		Help:  "Time from a public request's arrival to its answer, by route and status.",
		Alert: "p99 close to the request deadline (fanout_request_deadline_seconds); the rate of status 5xx."},
	{Name: "fanout_request_deadline_seconds", Type: "gauge",
		Help:  "The deadline that bounds a whole public request (-deadline).",
		Alert: "None: the yardstick of the p99 alert."},
	{Name: "fanout_requests_in_flight", Type: "gauge",
		Help: "Public requests being served now."},
	{Name: "fanout_errors_total", Type: "counter", Labels: "kind",
		Help:  "Public requests answered with an error (or not answered: client_gone), by stable kind.",
		Alert: "A rising rate of bad_gateway, timeout or internal."},
	{Name: "fanout_backend_call_duration_seconds", Type: "histogram", Labels: "operation, call, backend, outcome",
		Help:  "Time of one backend call in the backend client, by call and outcome (ok, failed: transport error or non-2xx).",
		Alert: "The rate of outcome=\"failed\" of one backend."},
	{Name: "fanout_backend_calls_in_flight", Type: "gauge", Labels: "backend",
		Help: "Calls to one backend in flight now."},
	{Name: "fanout_backend_stray_answers_total", Type: "counter", Labels: "operation, call, backend",
		Help:  "Backend answers refused because they were for another resource than the one asked for; the call asked again.",
		Alert: "Any increase: a backend connection is out of step."},
	{Name: "fanout_breaker_state", Type: "gauge", Labels: "backend",
		Help:  "State of one backend's circuit breaker: 0 closed, 1 half-open, 2 open.",
		Alert: "Open (2) for more than a minute."},
	{Name: "fanout_breaker_refused_total", Type: "counter", Labels: "backend",
		Help: "Calls to one backend refused by its open breaker."},
	{Name: "fanout_breaker_transitions_total", Type: "counter", Labels: "backend, from, to",
		Help: "Changes of state of one backend's circuit breaker."},
	{Name: "fanout_overload_limit", Type: "gauge",
		Help: "The limit on public requests in progress beyond which requests are shed; it binds only while the gateway's own CPUs saturate, and reads -overload-max (100000) otherwise."},
	{Name: "fanout_requests_shed_total", Type: "counter", Labels: "priority",
		Help:  "Public requests shed with 503 and Retry-After by overload protection, by priority (read, write).",
		Alert: "Any sustained rate: the gateway is at capacity."},
	{Name: "fanout_retries_total", Type: "counter",
		Help: "Backend calls retried within the retry budget."},
	{Name: "fanout_retries_denied_total", Type: "counter",
		Help:  "Retries not sent because the retry budget was spent.",
		Alert: "A sustained rate: backends fail more than the budget covers."},
	{Name: "fanout_hedges_sent_total", Type: "counter", Labels: "operation, call",
		Help: "Duplicate (hedged) calls sent for a slow call."},
	{Name: "fanout_hedges_won_total", Type: "counter", Labels: "operation, call",
		Help: "Hedged calls whose duplicate answered first."},
	{Name: "fanout_hedge_delay_seconds", Type: "gauge", Labels: "operation, call",
		Help: "Delay before a hedged call's duplicate; 0 while the call is not hedged (its delay still being learned, or no duplicate could have answered first lately)."},
	{Name: "fanout_hedges_denied_total", Type: "counter",
		Help:  "Duplicate calls not sent because the hedge budget was spent.",
		Alert: "A sustained rate: the tail is slower than the budget can hedge."},
	{Name: "fanout_coalesced_calls_total", Type: "counter", Labels: "operation, call",
		Help: "Calls that shared the answer of an identical call in flight."},
	{Name: "fanout_cache_hits_total", Type: "counter", Labels: "operation, call",
		Help: "Calls answered from the gateway's cache."},
	{Name: "fanout_cache_misses_total", Type: "counter", Labels: "operation, call",
		Help: "Cacheable calls that went to the backend."},
	{Name: "fanout_store_errors_total", Type: "counter",
		Help:  "Operations on the shared store (Redis, or memory) that failed: rate limits and idempotency records.",
		Alert: "Any sustained rate: rate limits go unchecked (or 503 with -ratelimit-on-store-error closed) and creates with an Idempotency-Key get 503."},
	{Name: "fanout_store_unchecked_total", Type: "counter", Labels: "check",
		Help:  "Requests let through without a check on the shared store because the store failed and the check fails open, by check (rate_limit, idempotency).",
		Alert: "Any increase: the rate limits do not hold (FanoutStoreErrors fires as well)."},
	{Name: "fanout_client_connections", Type: "gauge",
		Help: "Client connections open on the public port."},
	{Name: "fanout_client_connections_idle", Type: "gauge",
		Help: "Client connections idle between keep-alive requests."},
	{Name: "fanout_client_connections_silent", Type: "gauge",
		Help: "Client connections open without a byte of a request yet."},
	{Name: "fanout_request_body_bytes_in_flight", Type: "gauge",
		Help: "Bytes of request bodies held now, within the body budget."},
	{Name: "fanout_idempotency_records", Type: "gauge",
		Help: "Idempotency records held by the in-memory store."},
	{Name: "fanout_idempotency_record_bytes", Type: "gauge",
		Help: "Bytes of the idempotency records held by the in-memory store."},
	{Name: "fanout_idempotency_records_evicted_total", Type: "counter",
		Help: "Idempotency records evicted by the in-memory store to stay within its bound."},
}

// runtimeFamilies are the Go runtime and process families that
// VictoriaMetrics/metrics writes, with help texts it does not carry. Three
// of its names break the conventions on _total and _count and are renamed
// (see renamed).
var runtimeFamilies = []Family{
	{Name: "go_sched_latencies_seconds", Type: "histogram", Help: "Time goroutines spent runnable before running."},
	{Name: "go_mutex_wait_seconds_total", Type: "counter", Help: "Time goroutines spent blocked on a sync.Mutex or sync.RWMutex."},
	{Name: "go_gc_mark_assist_cpu_seconds_total", Type: "counter", Help: "CPU time goroutines spent helping the GC mark."},
	{Name: "go_gc_cpu_seconds_total", Type: "counter", Help: "CPU time spent in the GC."},
	{Name: "go_gc_pauses_seconds", Type: "histogram", Help: "Stop-the-world pauses of the GC."},
	{Name: "go_scavenge_cpu_seconds_total", Type: "counter", Help: "CPU time spent returning memory to the system."},
	{Name: "go_memlimit_bytes", Type: "gauge", Help: "The Go runtime's soft memory limit."},
	{Name: "go_memstats_alloc_bytes", Type: "gauge", Help: "Bytes of heap objects allocated and in use."},
	{Name: "go_memstats_alloc_bytes_total", Type: "counter", Help: "Bytes of heap objects ever allocated."},
	{Name: "go_memstats_buck_hash_sys_bytes", Type: "gauge", Help: "Bytes of the profiling bucket hash table."},
	{Name: "go_memstats_frees_total", Type: "counter", Help: "Heap objects ever freed."},
	{Name: "go_memstats_gc_cpu_fraction", Type: "gauge", Help: "Fraction of CPU time used by the GC since the start."},
	{Name: "go_memstats_gc_sys_bytes", Type: "gauge", Help: "Bytes of GC metadata."},
	{Name: "go_memstats_heap_alloc_bytes", Type: "gauge", Help: "Bytes of heap objects allocated and in use."},
	{Name: "go_memstats_heap_idle_bytes", Type: "gauge", Help: "Bytes of idle heap spans."},
	{Name: "go_memstats_heap_inuse_bytes", Type: "gauge", Help: "Bytes of heap spans in use."},
	{Name: "go_memstats_heap_objects", Type: "gauge", Help: "Heap objects allocated and in use."},
	{Name: "go_memstats_heap_released_bytes", Type: "gauge", Help: "Bytes of heap returned to the system."},
	{Name: "go_memstats_heap_sys_bytes", Type: "gauge", Help: "Bytes of heap obtained from the system."},
	{Name: "go_memstats_last_gc_time_seconds", Type: "gauge", Help: "Time of the last GC, in seconds since the Unix epoch."},
	{Name: "go_memstats_lookups_total", Type: "counter", Help: "Pointer lookups by the runtime."},
	{Name: "go_memstats_mallocs_total", Type: "counter", Help: "Heap objects ever allocated."},
	{Name: "go_memstats_mcache_inuse_bytes", Type: "gauge", Help: "Bytes of mcache structures in use."},
	{Name: "go_memstats_mcache_sys_bytes", Type: "gauge", Help: "Bytes of mcache structures obtained from the system."},
	{Name: "go_memstats_mspan_inuse_bytes", Type: "gauge", Help: "Bytes of mspan structures in use."},
	{Name: "go_memstats_mspan_sys_bytes", Type: "gauge", Help: "Bytes of mspan structures obtained from the system."},
	{Name: "go_memstats_next_gc_bytes", Type: "gauge", Help: "Heap size at which the next GC starts."},
	{Name: "go_memstats_other_sys_bytes", Type: "gauge", Help: "Bytes of other runtime allocations."},
	{Name: "go_memstats_stack_inuse_bytes", Type: "gauge", Help: "Bytes of stack spans in use."},
	{Name: "go_memstats_stack_sys_bytes", Type: "gauge", Help: "Bytes of stack obtained from the system."},
	{Name: "go_memstats_sys_bytes", Type: "gauge", Help: "Bytes obtained from the system by the runtime."},
	{Name: "go_cgo_calls_total", Type: "counter", Help: "Calls from Go to C."},
	{Name: "go_cpus", Type: "gauge", Help: "Logical CPUs usable by the process."},
	{Name: "go_gc_duration_seconds", Type: "summary", Help: "Quantiles of recent GC pauses."},
	{Name: "go_gc_forced_total", Type: "counter", Help: "GC cycles forced by the application."},
	{Name: "go_gomaxprocs", Type: "gauge", Help: "The value of GOMAXPROCS."},
	{Name: "go_goroutines", Type: "gauge", Help: "Goroutines that exist now."},
	{Name: "go_threads", Type: "gauge", Help: "OS threads created."},
	{Name: "go_info", Type: "gauge", Help: "Go version of the build; always 1."},
	{Name: "go_info_ext", Type: "gauge", Help: "Compiler and platform of the build; always 1."},
	{Name: "process_cpu_seconds_system_total", Type: "counter", Help: "CPU time in the kernel."},
	{Name: "process_cpu_seconds_total", Type: "counter", Help: "CPU time, user and kernel."},
	{Name: "process_cpu_seconds_user_total", Type: "counter", Help: "CPU time in user space."},
	{Name: "process_major_pagefaults_total", Type: "counter", Help: "Page faults that read from disk."},
	{Name: "process_minor_pagefaults_total", Type: "counter", Help: "Page faults served from memory."},
	{Name: "process_num_threads", Type: "gauge", Help: "OS threads of the process."},
	{Name: "process_resident_memory_bytes", Type: "gauge", Help: "Resident memory."},
	{Name: "process_start_time_seconds", Type: "gauge", Help: "Start time of the process, in seconds since the Unix epoch."},
	{Name: "process_virtual_memory_bytes", Type: "gauge", Help: "Virtual memory."},
	{Name: "process_virtual_memory_peak_bytes", Type: "gauge", Help: "Peak virtual memory."},
	{Name: "process_resident_memory_peak_bytes", Type: "gauge", Help: "Peak resident memory."},
	{Name: "process_resident_memory_anon_bytes", Type: "gauge", Help: "Resident anonymous memory."},
	{Name: "process_resident_memory_file_bytes", Type: "gauge", Help: "Resident file-backed memory."},
	{Name: "process_resident_memory_shared_bytes", Type: "gauge", Help: "Resident shared memory."},
	// VictoriaMetrics/metrics writes these ever-growing counts as gauges;
	// their type here is what they are.
	{Name: "process_io_read_bytes_total", Type: "counter", Help: "Bytes read by the process."},
	{Name: "process_io_written_bytes_total", Type: "counter", Help: "Bytes written by the process."},
	{Name: "process_io_read_syscalls_total", Type: "counter", Help: "Read system calls of the process."},
	{Name: "process_io_write_syscalls_total", Type: "counter", Help: "Write system calls of the process."},
	{Name: "process_io_storage_read_bytes_total", Type: "counter", Help: "Bytes read from storage by the process."},
	{Name: "process_io_storage_written_bytes_total", Type: "counter", Help: "Bytes written to storage by the process."},
	{Name: "process_max_fds", Type: "gauge", Help: "Limit on open file descriptors."},
	{Name: "process_open_fds", Type: "gauge", Help: "Open file descriptors."},
	{Name: "process_pressure_cpu_waiting_seconds_total", Type: "counter", Help: "Time some of the process's tasks waited for CPU (PSI)."},
	{Name: "process_pressure_cpu_stalled_seconds_total", Type: "counter", Help: "Time all of the process's tasks waited for CPU (PSI)."},
	{Name: "process_pressure_io_waiting_seconds_total", Type: "counter", Help: "Time some of the process's tasks waited for I/O (PSI)."},
	{Name: "process_pressure_io_stalled_seconds_total", Type: "counter", Help: "Time all of the process's tasks waited for I/O (PSI)."},
	{Name: "process_pressure_memory_waiting_seconds_total", Type: "counter", Help: "Time some of the process's tasks waited for memory (PSI)."},
	{Name: "process_pressure_memory_stalled_seconds_total", Type: "counter", Help: "Time all of the process's tasks waited for memory (PSI)."},
	{Name: "process_cgroup_cpu_throttled_seconds_total", Type: "counter", Help: "Time the process's cgroup was throttled by its CPU quota."},
}

// renamed maps the names VictoriaMetrics/metrics writes for three Go
// runtime families to conventional ones: a counter's name ends in _total,
// and only a histogram's or summary's series end in _count.
var renamed = map[string]string{
	"go_cpu_count":       "go_cpus",
	"go_cgo_calls_count": "go_cgo_calls_total",
	"go_gc_forced_count": "go_gc_forced_total",
}
