# The emulated KVM lab (tests/lab/, see tests/lab/README.md).
#
#   make lab-shell [LAB_KERNEL=6.1|6.12] [LAB_HOSTS=1|2]
#                       a shell in lab host a (Ctrl-A X quits); the payload
#                       is build/payload/<release> when it exists
#   make lab-selftest   self-check of the lab: both kernels, two hosts, KVM
#                       with the dirty ring, both networks (TAP lines)
#   make lab-prepare    fetch the kernels and build the cached initramfs
#                       bases for $(LAB_KERNELS), so later runs start at once

LAB_SH		:= $(TOP)/tests/lab/lab.sh
LAB_KERNEL	?= 6.1
LAB_HOSTS	?= 1

.PHONY: lab-shell lab-selftest lab-prepare

lab-shell:
	@rel=$$($(LAB_SH) prepare --kernel $(LAB_KERNEL)) || exit $$?; \
	payload=$(BUILD)/payload/$$rel; \
	if [ -d "$$payload" ]; then set -- --payload "$$payload"; \
	else echo "lab: no $$payload (make check or make demo builds it): empty /opt/kmigrate" >&2; set --; fi; \
	exec $(LAB_SH) shell --kernel $(LAB_KERNEL) --hosts $(LAB_HOSTS) "$$@"

lab-selftest:
	@$(TOP)/tests/lab/selftest.sh $(LAB_KERNELS)

lab-prepare:
	@for k in $(LAB_KERNELS); do $(LAB_SH) prepare --kernel $$k >/dev/null || exit $$?; done
