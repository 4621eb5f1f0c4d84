# make bench [LAB_KERNEL=6.1|6.12] [BENCH_REPEAT=N]  (not part of make check)
#
# The same live migrations on the userspace and the kernel data path
# (kmigrate start --datapath user|kernel) between two lab hosts booted once,
# kmigrate.ko loaded on both: an idle guest, a moderate and a heavy writer,
# BENCH_REPEAT times each (alternating which path goes first), medians and
# kernel/user ratios of the cost per harvested dirty page, the send
# throughput, the source's CPU seconds per migrated GiB, the total time and
# the downtime.  Each path runs over the authenticated plaintext channel
# (--insecure) and over TLS 1.3 with kernel TLS (paths user-tls and
# kernel-tls: the ratios user-tls/user and kernel-tls/kernel are the cost of
# encryption); BENCH_CHANNELS=plain (or tls) runs one channel only, and
# BENCH_WORKLOADS='moderate' one workload.
# Output in build/bench/ (log, JSON lines, markdown); the
# markdown also goes into docs/BENCH.md (BENCH_DOC=0: not).  See
# tests/bench/bench.sh and docs/BENCH.md.

BENCH_REPEAT	?= 3

.PHONY: bench

bench: deps tools
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && mkdir -p $(BUILD)/bench && rm -f $(BUILD)/bench/ko-$$rel.ok && \
	{ $(MAKE) -s module-lab KREL=$$rel && touch $(BUILD)/bench/ko-$$rel.ok || \
	  echo "bench: kmigrate.ko did not build for $$rel: the kernel path is unavailable" >&2; }
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	rm -rf $(BUILD)/payload-bench && mkdir -p $(BUILD)/payload-bench/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/bench/bench_host.sh $(TOP)/tests/lib/labtest.sh \
		$(BUILD)/payload-bench/bin/ && \
	sh $(TOP)/tests/lab-migrate/tls_certs.sh $(BUILD)/payload-bench/tls && \
	if [ -f $(BUILD)/bench/ko-$$rel.ok ]; then \
		cp $(BUILD)/kmod/$$rel/kmod/kmigrate.ko $(BUILD)/payload-bench/; fi && \
	BENCH_DOC=$(or $(BENCH_DOC),1) $(TOP)/tests/bench/bench.sh $(BUILD)/payload-bench $(LAB_KERNEL) \
		$(BENCH_REPEAT) 'make bench LAB_KERNEL=$(LAB_KERNEL) BENCH_REPEAT=$(BENCH_REPEAT)'

# make bench-realkvm: build/bench/realkvm/, to copy to a host with a real
# /dev/kvm (no module needed, any distribution): a static kmigrate and the
# scripts.  There, as root:
#   sh realkvm.sh run ./kmigrate realkvm.log
# and here: tests/bench/realkvm.sh doc 'COMMAND' realkvm.log (docs/BENCH.md).
BENCH_RK	:= $(BUILD)/bench/realkvm
.PHONY: bench-realkvm

# GnuTLS has no static build here: this binary has no TLS (tools/migrate/
# notls/tls_none.c refuses without --insecure; the scripts pass it).
$(BENCH_RK)/kmigrate: $(filter-out %/migrate/tls.o,$(call tools-objs,plain,$(TOOLS_LIB_SRCS) \
		$(TOOLS_CMD_SRCS))) $(TOOLS_OBJ)/plain/migrate/notls/tls_none.o $(TOOLS_VMM_LIB)
	@mkdir -p $(@D)
	set -o pipefail; $(TOOLS_CC) -static -o $@ $^ -lnl-genl-3 -lnl-3 -ljson-c -lxxhash -pthread 2>&1 | \
		{ grep -v 'statically linked applications requires at runtime\|in function' || true; }
	@test -x $@

bench-realkvm: $(BENCH_RK)/kmigrate
	cp $(TOP)/tests/bench/bench_host.sh $(TOP)/tests/bench/realkvm.sh \
		$(TOP)/tests/bench/report.awk $(TOP)/tests/lib/labtest.sh $(BENCH_RK)/

.PHONY: bench-local
# make bench-local: QEMU and kmigrate migrating the same multiboot guest
# (filled, then idle or busy) over 127.0.0.1 on this machine's own /dev/kvm,
# at limits 300, 50 and 10 ms (tests/bench/local.sh; docs/BENCH.md section
# bench:local).  Not part of make check.
bench-local: deps tools vmm
	@$(TOP)/tests/bench/local.sh
