/// The `system:` section `vimana check` renders for the built-in default:
/// one copy for every test that compares a whole rendered configuration.
let renderedDefaultSystem = """
system:
  enabled: true
  max_task_bytes: 64KiB
  discovery:
    enabled: true
    required: true
    poll_interval: 200ms
  oracle:
    enabled: true
    required: true
    scan_entries: 10000
  archivist:
    enabled: true
    required: false
    output_dir: data/exports
  engineer:
    enabled: true
    required: true
    dir: data/agents
    operators: ["default"]
  science:
    enabled: true
    required: false
    bucket: 60s
    retention: 86400s
    checkpoint_interval: 5s
    poll_interval: 500ms
    scan_count: 1000
  auditor:
    enabled: true
    required: false
    interval_seconds: 3600
  scribe:
    enabled: true
    required: false
    output_dir: data/docs
    science_timeout: 2s
  civic:
    enabled: true
    required: true
    operators: ["default"]
    grant: 100
    scan_entries: 10000
  supreme_court:
    enabled: true
    required: false
    judges: ["default"]
    offence_window: 86400s
    max_offences: 3
    scan_entries: 10000
  forum:
    enabled: true
    required: false
    proposal_cost: 10
    voting_period: 3600s
    voting_threshold: 0.5
    quorum: 0.5
  herald:
    enabled: true
    required: false
    broadcast_cost: 1
    max_length: 4096
    forbidden: []
  envoy:
    enabled: true
    required: false
    playbooks: playbooks
  watchman:
    enabled: true
    required: false
    interval: 5s
    window: 3600s
    suspend_after: 3
    max_publish_rate: 1000
    ack_wait_after: 3
"""
