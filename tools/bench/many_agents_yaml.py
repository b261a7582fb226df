#!/usr/bin/env python3
"""A phoenix.yaml declaring N external agents (no command: idle) beside the
system agents, for scribe's figures (docs/PERFORMANCE.md).

    tools/bench/many_agents_yaml.py N OUTPUT_DIR > /tmp/many.yaml

Each agent subscribes to its tasks topic and to orders.*, publishes on its
own orders, events and dead-letter topics, and has two capabilities; scribe
writes its documents to OUTPUT_DIR."""
import sys

n = int(sys.argv[1]); out = sys.argv[2]
print("agents:")
for i in range(n):
    a = "agent-%03d" % i
    print("  - id: %s" % a)
    print("    description: stands in for agent number %d of a busy city" % i)
    print('    subscribes: ["tasks.%s", "orders.*"]' % a)
    print('    publishes: ["orders.%s", "events.%s", "dead.%s"]' % (a, a, a))
    print("    capabilities: [cap-%d, shared]" % (i % 10))
print("system:")
print("  scribe:")
print("    output_dir: %s" % out)
