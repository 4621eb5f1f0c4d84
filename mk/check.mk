# make check, make demo, and the per-kernel lab payloads they boot.

.PHONY: check demo payload lab-kselftest

LAB_KERNEL	?= 6.1
lab_rel		= $(shell $(TOP)/scripts/lab-kernel.sh $(1))
# LAB_KERNEL may also be a kernel directory (a path with a slash, from
# tests/lab/kdebug_build.sh): its modules build against DIR/build.
LAB_KREL_KDIR	= $(if $(findstring /,$(LAB_KERNEL)),KREL_KDIR=$(abspath $(LAB_KERNEL))/build)

# payload KREL=<release>: what a lab host running <release> gets in /opt/kmigrate.
# With the guest agent and the client probe (tests/lab/README.md) in bin/.
payload: tools kselftest module-lab lab-agent
	@test -n "$(KREL)" || { echo "payload: set KREL=<kernel release>" >&2; exit 2; }
	rm -rf $(BUILD)/payload/$(KREL)
	mkdir -p $(BUILD)/payload/$(KREL)/bin
	cp $(BUILD)/bin/kmigrate $(BUILD)/payload/$(KREL)/bin/
	cp $(LABVM_OUT)/kmagent $(LABVM_OUT)/kmprobe $(TOP)/tests/lab-vm/agentlib.sh \
		$(TOP)/tests/lab-vm/agent_initrd.sh $(TOP)/tests/lab-vm/kmguest.sh $(BUILD)/payload/$(KREL)/bin/
	cp $(BUILD)/kmod/$(KREL)/kmod/kmigrate.ko $(BUILD)/payload/$(KREL)/
	cp -r $(BUILD)/kselftest $(BUILD)/payload/$(KREL)/kselftest
	cp $(TOP)/tests/demo/demo-host.sh $(BUILD)/payload/$(KREL)/bin/
	sh $(TOP)/tests/lab-migrate/tls_certs.sh $(BUILD)/payload/$(KREL)/tls

# The kernel selftests inside one lab host of kernel line LAB_KERNEL.
lab-kselftest: deps
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(MAKE) -s payload KREL=$$rel $(LAB_KREL_KDIR) && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $(BUILD)/payload/$$rel --timeout 900 -- sh kselftest/run.sh

# The long fuzzing and racing of the module's interfaces (tests/kselftest/
# modfuzz*.c; a short version runs in every lab-kselftest): MODFUZZ_SECONDS
# of fuzzing, each race MODFUZZ_RACES times, MODFUZZ_LOOPS load/unload
# loops with sessions, then run.sh's kernel log and taint checks.
# MODFUZZ_SEED=N reproduces a run (each run prints its seed).
MODFUZZ_SECONDS	?= 600
MODFUZZ_RACES	?= 20
MODFUZZ_LOOPS	?= 1000
MODFUZZ_SEED	?=
.PHONY: lab-modfuzz
lab-modfuzz: deps
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(MAKE) -s payload KREL=$$rel && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $(BUILD)/payload/$$rel --timeout 7200 -- \
		KMIGRATE_SELFTESTS=modfuzz KMIGRATE_LOAD_LOOPS=10 \
		MODFUZZ_SECONDS=$(MODFUZZ_SECONDS) MODFUZZ_RACES=$(MODFUZZ_RACES) \
		MODFUZZ_LOOPS=$(MODFUZZ_LOOPS) $(if $(MODFUZZ_SEED),MODFUZZ_SEED=$(MODFUZZ_SEED)) \
		sh kselftest/run.sh

check: deps
	@$(TOP)/tests/check.sh

.PHONY: check-kdebug
# The debug-kernel line (not part of check): a kernel with KASAN, lockdep,
# kmemleak, DEBUG_ATOMIC_SLEEP and DEBUG_OBJECTS built from Debian's
# linux-source (tests/lab/kdebug_build.sh, cached) boots the lab hosts for
# the kselftests and the migrate, migrate-tls and migrate-faults suites;
# any KASAN, lockdep, kmemleak or WARN report fails (tests/lab/kdebug.sh).
# KDEBUG_SUITES picks some of them.
check-kdebug: deps
	@$(TOP)/scripts/deps.sh kdebug
	@$(TOP)/tests/lab/kdebug.sh $(KDEBUG_SUITES)

# The main job: two emulated hypervisor hosts on a management and a
# dedicated migration network, kmigrate.ko loaded on both; a workload guest,
# then a stock Linux guest with the agent and a disk on the lab's shared
# storage, live-migrate from a to b (tests/demo/demo-host.sh).  The payload
# gets what the Linux guest needs, as lab-migrate-linux-disk's: the lab
# kernel (vmlinuz), its virtio modules (mods: the guest's, which the hosts
# load too) and the agent's initramfs with them (initrd.cpio).
# (Two recipe lines: make -n runs the one with $(MAKE), not the lab.)
demo: deps
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && $(MAKE) -s payload KREL=$$rel
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	p=$(BUILD)/payload/$$rel && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $$p/vmlinuz && \
	sh $(TOP)/tests/lab-vm/virtio_mods.sh $(LAB_CACHE_DIR)/kernel/$$rel/image.deb $$rel $$p/m && \
	mv $$p/m/guest $$p/mods && rm -rf $$p/m && \
	sh $(TOP)/tests/lab-vm/agent_initrd.sh $$p/initrd.cpio $(LABVM_OUT)/kmagent $$p/mods && \
	LAB_SHARED_DISK=256 $(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $$p --timeout 600 -- sh bin/demo-host.sh

.PHONY: lab-vmm
# The VMM selftest (dirty harvesting loses no page, local migration of the
# workload guest) on real KVM inside one lab host of kernel line LAB_KERNEL.
lab-vmm: deps vmm
	rm -rf $(BUILD)/payload-vmm
	mkdir -p $(BUILD)/payload-vmm/bin
	cp $(BUILD)/vmm/vmm_selftest $(BUILD)/vmm/mb_test $(VMM_MB_KERNEL) $(BUILD)/payload-vmm/bin/
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $(BUILD)/payload-vmm --timeout 600 -- \
		'vmm_selftest --seconds 3; a=$$?; mb_test bin/$(notdir $(VMM_MB_KERNEL)); b=$$?; [ $$a = 0 ] && [ $$b = 0 ]'

.PHONY: lab-vm
# `kmigrate run` and its control socket on real KVM inside one lab host.
lab-vm: deps tools
	rm -rf $(BUILD)/payload-vm
	mkdir -p $(BUILD)/payload-vm/bin
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/run_test.sh $(TOP)/tests/lib/labtest.sh $(BUILD)/payload-vm/bin/
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $(BUILD)/payload-vm --timeout 600 -- sh bin/run_test.sh

.PHONY: lab-linux
# A stock Linux guest in kmigrate's VMM inside one lab host of LAB_KERNEL:
# `kmigrate run --kernel` boots that host's own Debian bzImage with a busybox
# initramfs built here (tests/lab-vm/linux_initrd.sh) at 1 and 4 vCPUs,
# `kmigrate console`, bad input (tests/lab-vm/linux_test.sh).  A few minutes.
LAB_CACHE_DIR	= $(or $(LAB_CACHE),$(TOP)/.cache/lab)
lab-linux: deps tools
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	rm -rf $(BUILD)/payload-linux && mkdir -p $(BUILD)/payload-linux/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/linux_test.sh $(TOP)/tests/lib/labtest.sh \
		$(BUILD)/payload-linux/bin/ && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $(BUILD)/payload-linux/vmlinuz && \
	sh $(TOP)/tests/lab-vm/linux_initrd.sh $(BUILD)/payload-linux/initrd.cpio && \
	$(LAB_TLS) $(BUILD)/payload-linux/tls && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $(BUILD)/payload-linux --timeout 900 -- sh bin/linux_test.sh

.PHONY: lab-migrate-linux
# Live migration of a running Linux guest (2 vCPUs, no devices) between two
# lab hosts of LAB_KERNEL (tests/lab-vm/linux_mig_test.sh): there on the
# kernel data path, back on the user path over TLS; the guest checks its
# tmpfs data, its counter and its clock on the destination's console.
lab-migrate-linux: deps tools lab-mig-module
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	p=$(BUILD)/payload-lmig && rm -rf $$p && mkdir -p $$p/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/linux_mig_test.sh $(TOP)/tests/lib/labtest.sh \
		$(TOP)/tests/lab-vm/agentlib.sh $$p/bin/ && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $$p/vmlinuz && \
	sh $(TOP)/tests/lab-vm/linux_mig_initrd.sh $$p/initrd.cpio && \
	cp $(LAB_MIG_KO) $$p/ && $(LAB_TLS) $$p/tls && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $$p --timeout 600 -- $(LAB_MIG_ENV) sh bin/linux_mig_test.sh

.PHONY: lab-migrate-linux-disk
# The same with a virtio disk on the lab's shared storage (LAB_SHARED_DISK,
# tests/lab/README.md): the guest appends fsynced records and reads the disk
# back in a loop while it migrates; every record is there afterwards, the
# disk changes hands at COMMIT, pre-flight refuses a disk b cannot open.
lab-migrate-linux-disk: deps tools lab-mig-module
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	p=$(BUILD)/payload-lmigd && rm -rf $$p && mkdir -p $$p/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/linux_mig_test.sh $(TOP)/tests/lib/labtest.sh \
		$(TOP)/tests/lab-vm/agentlib.sh $$p/bin/ && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $$p/vmlinuz && \
	sh $(TOP)/tests/lab-vm/virtio_mods.sh $(LAB_CACHE_DIR)/kernel/$$rel/image.deb $$rel $$p/m && \
	mv $$p/m/guest $$p/mods && rm -rf $$p/m && \
	sh $(TOP)/tests/lab-vm/linux_mig_initrd.sh $$p/initrd.cpio $$p/mods && \
	cp $(LAB_MIG_KO) $$p/ && $(LAB_TLS) $$p/tls && \
	LAB_SHARED_DISK=256 $(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $$p --timeout 600 -- MIG_DISK=1 $(LAB_MIG_ENV) sh bin/linux_mig_test.sh

.PHONY: lab-virtio
# virtio-pci devices driven by a stock Linux guest in one lab host of
# LAB_KERNEL (tests/lab-vm/virtio_test.sh): a disk written, flushed and read
# back across a reboot and checked in the image, a read-only disk, a NIC on
# a bridge of the lab host (ping both ways, a TCP echo).  The guest's and the
# host's extra modules come from the lab kernel's package (virtio_mods.sh).
lab-virtio: deps tools
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	p=$(BUILD)/payload-virtio && rm -rf $$p && mkdir -p $$p/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/virtio_test.sh \
		$(TOP)/tests/lab-vm/virtio_pattern.sh $(TOP)/tests/lib/labtest.sh $$p/bin/ && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $$p/vmlinuz && \
	sh $(TOP)/tests/lab-vm/virtio_mods.sh $(LAB_CACHE_DIR)/kernel/$$rel/image.deb $$rel $$p/mods && \
	mv $$p/mods/host $$p/host && \
	sh $(TOP)/tests/lab-vm/virtio_initrd.sh $$p/initrd.cpio $$p/mods/guest && \
	rm -rf $$p/mods && $(LAB_TLS) $$p/tls && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $$p --timeout 900 -- sh bin/virtio_test.sh

.PHONY: lab-migrate lab-mig-module
# Live migration between two lab hosts (`kmigrate listen`/`start`/`cancel`,
# tests/lab-migrate/migrate_test.sh; docs/MIGRATION.md).  The payloads carry
# kmigrate.ko: the scripts load it on both hosts and migrate on the kernel
# data path (--datapath kernel); MIG_DATAPATH=user in the lab host's
# environment, or a payload without the module, keeps them on the user path.
# LAB_MIG_KO: the module built for LAB_KERNEL (lab-mig-module builds it).
# LAB_MIG_DATAPATH=user|kernel|auto forces one path in all three suites
# (e.g. make lab-migrate-faults LAB_MIG_DATAPATH=user: the user path alone).
LAB_MIG_ENV	= $(if $(LAB_MIG_DATAPATH),MIG_DATAPATH=$(LAB_MIG_DATAPATH))
# Every payload that migrates carries the lab's credentials in DIR/tls
# (tls_certs.sh, valid a day, made anew each time: milliseconds): --insecure
# authenticates too.  tests/lib/labtest.sh sets KMIGRATE_TLS_DIR=DIR/tls/$LAB_HOST.
LAB_TLS		= sh $(TOP)/tests/lab-migrate/tls_certs.sh
LAB_MIG_KO	= $(BUILD)/kmod/$(shell $(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL))/kmod/kmigrate.ko
lab-mig-module:
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && $(MAKE) -s module-lab KREL=$$rel $(LAB_KREL_KDIR)

lab-migrate: deps tools lab-mig-module
	rm -rf $(BUILD)/payload-mig
	mkdir -p $(BUILD)/payload-mig/bin
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-migrate/migrate_test.sh $(TOP)/tests/lib/labtest.sh $(BUILD)/payload-mig/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-mig/
	$(LAB_TLS) $(BUILD)/payload-mig/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $(BUILD)/payload-mig --timeout 500 -- $(LAB_MIG_ENV) sh bin/migrate_test.sh

.PHONY: lab-migrate-faults
# Fault injection between two lab hosts: bad streams into `kmigrate listen`
# (tests/lab-migrate/badstream.c), cancel in bulk and live rounds, the
# destination killed at the handoff, idle and heavy writers
# (tests/lab-migrate/faults_test.sh).
LAB_BADSTREAM	:= $(BUILD)/tests/lab-migrate/badstream
LAB_PROTO_SRCS	:= $(addprefix $(TOOLS_SRC)/migrate/,proto.c proto_enc.c proto_dec.c)
$(LAB_BADSTREAM): $(TOP)/tests/lab-migrate/badstream.c $(LAB_PROTO_SRCS) \
		  $(TOOLS_SRC)/migrate/proto.h $(TOOLS_SRC)/migrate/proto_wire.h \
		  $(TOOLS_SRC)/migrate/tls.c $(TOOLS_SRC)/migrate/tls.h
	@mkdir -p $(dir $@)
	$(TOOLS_CC) $(TOOLS_CFLAGS) -o $@ $(TOP)/tests/lab-migrate/badstream.c \
		$(LAB_PROTO_SRCS) $(TOOLS_SRC)/migrate/tls.c -lgnutls -ljson-c -lxxhash -pthread

lab-migrate-faults: deps tools $(LAB_BADSTREAM) lab-mig-module
	rm -rf $(BUILD)/payload-migf
	mkdir -p $(BUILD)/payload-migf/bin
	cp $(BUILD)/bin/kmigrate $(LAB_BADSTREAM) $(TOP)/tests/lab-migrate/faults_test.sh $(TOP)/tests/lib/labtest.sh \
		$(BUILD)/payload-migf/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-migf/
	$(LAB_TLS) $(BUILD)/payload-migf/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $(BUILD)/payload-migf --timeout 600 -- $(LAB_MIG_ENV) sh bin/faults_test.sh

.PHONY: lab-migrate-tls
# The authenticated, encrypted channel between two lab hosts: TLS 1.3 with
# mutual certificates, records in kernel TLS, on both data paths; refused
# peers (other CA, rogue certificate, none, plaintext) leave the guest
# running (tests/lab-migrate/tls_test.sh).  The certificates are made here
# with openssl (tls_certs.sh); the payload carries openssl for s_client.
lab-migrate-tls: deps tools lab-mig-module
	rm -rf $(BUILD)/payload-migt
	mkdir -p $(BUILD)/payload-migt/bin
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-migrate/tls_test.sh $(TOP)/tests/lib/labtest.sh \
		$$(command -v openssl) $(BUILD)/payload-migt/bin/
	$(LAB_TLS) $(BUILD)/payload-migt/tls
	cp $(LAB_MIG_KO) $(BUILD)/payload-migt/
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $(BUILD)/payload-migt --timeout 600 -- $(LAB_MIG_ENV) sh bin/tls_test.sh

.PHONY: lab-migrate-net
# The dedicated migration network and the concurrency limits between two lab
# hosts (tests/lab-migrate/net_test.sh): both NICs' byte counters around
# migrations (to the migration address, and --via mig0 to the management
# address), --via errors, three migrations against outgoing and incoming
# limits of two (wait in order, --no-wait, refused HELLO).
lab-migrate-net: deps tools lab-mig-module
	rm -rf $(BUILD)/payload-mign
	mkdir -p $(BUILD)/payload-mign/bin
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-migrate/net_test.sh $(TOP)/tests/lib/labtest.sh \
		$(BUILD)/payload-mign/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-mign/
	$(LAB_TLS) $(BUILD)/payload-mign/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 --mem 1536 \
		--payload $(BUILD)/payload-mign --timeout 600 -- $(LAB_MIG_ENV) sh bin/net_test.sh

.PHONY: lab-migrate-bw
# The bandwidth cap between two lab hosts (tests/lab-migrate/bandwidth_test.sh):
# on the kernel and the user data path, a migration capped at 16 MiB/s and
# changed live to 32 MiB/s keeps every one-second window of the source's
# mig0 tx_bytes (sampled by bw_sampler, corrected for TCP/IP headers)
# within 10 % of the cap.
LAB_BW_SAMPLER	:= $(BUILD)/tests/lab-migrate/bw_sampler
$(LAB_BW_SAMPLER): $(TOP)/tests/lab-migrate/bw_sampler.c
	@mkdir -p $(dir $@)
	$(TOOLS_CC) $(TOOLS_CFLAGS) -o $@ $<

lab-migrate-bw: deps tools $(LAB_BW_SAMPLER) lab-mig-module
	rm -rf $(BUILD)/payload-migbw
	mkdir -p $(BUILD)/payload-migbw/bin
	cp $(BUILD)/bin/kmigrate $(LAB_BW_SAMPLER) $(TOP)/tests/lab-migrate/bandwidth_test.sh \
		$(TOP)/tests/lib/labtest.sh $(BUILD)/payload-migbw/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-migbw/
	$(LAB_TLS) $(BUILD)/payload-migbw/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 --mem 1536 \
		--payload $(BUILD)/payload-migbw --timeout 600 -- $(LAB_MIG_ENV) sh bin/bandwidth_test.sh

.PHONY: lab-migrate-preflight
# Pre-flight checks and CPU models between two lab hosts: each failed check
# (cpu against a --cpu-max x86-64-v1 listener, memory, protocol version,
# listener down, module ABI, incoming limit, host-model guests) refuses with
# nothing moved and the guest running on the source; checks leave `listen
# --once` its migration; an x86-64-v1 guest passes and migrates
# (tests/lab-migrate/preflight_test.sh).  User data path; kmigrate.ko is
# loaded on both hosts for the module ABI check (kernel data path).
lab-migrate-preflight: deps tools $(LAB_BADSTREAM) lab-mig-module
	rm -rf $(BUILD)/payload-migp
	mkdir -p $(BUILD)/payload-migp/bin
	cp $(BUILD)/bin/kmigrate $(LAB_BADSTREAM) $(TOP)/tests/lab-migrate/preflight_test.sh \
		$(TOP)/tests/lib/labtest.sh $(BUILD)/payload-migp/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-migp/
	$(LAB_TLS) $(BUILD)/payload-migp/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $(BUILD)/payload-migp --timeout 600 -- sh bin/preflight_test.sh

.PHONY: lab-migrate-downtime
# The downtime limit holds between two lab hosts: guests migrated at limits
# of 300, 100, 50 and 20 ms in ring and bitmap modes either complete within
# the limit or fail clearly and keep running on the source
# (tests/lab-migrate/downtime_test.sh).
lab-migrate-downtime: deps tools lab-mig-module
	rm -rf $(BUILD)/payload-migd
	mkdir -p $(BUILD)/payload-migd/bin
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-migrate/downtime_test.sh $(TOP)/tests/lib/labtest.sh $(BUILD)/payload-migd/bin/
	cp $(LAB_MIG_KO) $(BUILD)/payload-migd/
	$(LAB_TLS) $(BUILD)/payload-migd/tls
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 2 \
		--payload $(BUILD)/payload-migd --timeout 600 -- $(LAB_MIG_ENV) sh bin/downtime_test.sh

.PHONY: check-host
# The host tier (part of make check): the VMM selftests and the migration
# suites of tests/host/*_test.sh on this machine's own /dev/kvm, between
# network namespaces or over loopback (tests/host/run.sh); one skipped line
# without a usable /dev/kvm.
check-host: deps tools vmm lab-agent
	@$(TOP)/tests/host/run.sh
