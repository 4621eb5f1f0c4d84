# kmigrate: top-level build.
#
#   make            module (against KDIR) and tools
#   make demo       the main job: two emulated hypervisor hosts, kmigrate on both
#   make check      every test: host unit tests, module build checks, DKMS,
#                   and the lab suites under the 6.1 and 6.12 kernels
#   make deps       install the Debian packages that are missing
#
# Each part of the tree keeps its rules in mk/<part>.mk.

SHELL		:= /bin/bash
TOP		:= $(CURDIR)
BUILD		:= $(TOP)/build
# The one place the version lives is dkms.conf; git adds where we are.
BASE_VERSION	:= $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(TOP)/dkms.conf)
VERSION		:= $(shell $(TOP)/scripts/version.sh $(TOP))
KVER		?= $(shell uname -r)
KDIR		?= /lib/modules/$(KVER)/build
LAB_KERNELS	?= 6.1 6.12

export TOP BUILD VERSION BASE_VERSION

.PHONY: all deps deps-build deps-lab clean distclean

all: module tools

deps:
	@$(TOP)/scripts/deps.sh all

deps-build:
	@$(TOP)/scripts/deps.sh build

deps-lab:
	@$(TOP)/scripts/deps.sh lab

include $(TOP)/mk/kmod.mk
include $(TOP)/mk/tools.mk
include $(TOP)/mk/lab.mk
include $(TOP)/mk/kselftest.mk
include $(TOP)/mk/vmm.mk
include $(TOP)/mk/check.mk
include $(TOP)/mk/bench.mk
include $(TOP)/mk/fuzz.mk
include $(TOP)/mk/labvm.mk

# In-tree kbuild output of `make module` is removed by name: kbuild's own
# clean with M=$(TOP) would also delete modules under .cache/.
clean:
	rm -rf $(BUILD)
	rm -f $(TOP)/kmod/*.o $(TOP)/kmod/*.ko $(TOP)/kmod/*.mod $(TOP)/kmod/*.mod.c \
		$(TOP)/kmod/.*.cmd $(TOP)/kmod/modules.order $(TOP)/.*.cmd \
		$(TOP)/Module.symvers $(TOP)/modules.order

distclean: clean
	rm -rf $(TOP)/.cache
