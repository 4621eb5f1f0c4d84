// SPDX-License-Identifier: GPL-2.0
/* The destination's guest-specific parts; see dest_guest.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dest_guest.h"
#include "guest/wl_abi.h"

#define DST_PAUSE_READ_MS	200	/* guest progress before reading its max pause */
#define DST_PAUSE_MAX_MS	2000	/* ... waiting at most this long for it */

/* The guest is the built-in workload (its parameters page is there). */
bool km_dest_workload(struct vmm_vm *vm)
{
	const struct wl_params *p = vmm_gpa_to_hva(vm, WL_PARAMS_GPA, sizeof(*p));

	return p && p->magic == WL_PARAMS_MAGIC;
}

/*
 * The guest runs again: let it make progress (DST_PAUSE_READ_MS, and until
 * every vCPU has written again, at most DST_PAUSE_MAX_MS) and read the
 * longest pause its status page recorded since the source's reset just
 * before the stop-and-copy: the switch-over as the guest saw it.
 */
void km_dest_guest_pause(struct vmm_vm *vm, struct kmp_resumed *rs)
{
	unsigned int i, nv = vmm_nr_vcpus(vm);
	uint64_t seq0[VMM_MAX_VCPUS], t0 = vmm_now_ns(), max = 0;
	struct vmm_wl_vcpu_status st;
	bool moved = false;

	for (i = 0; i < nv; i++)
		seq0[i] = vmm_wl_status(vm, i, &st) ? 0 : st.seq;
	while (vmm_now_ns() - t0 < DST_PAUSE_MAX_MS * 1000000ULL) {
		usleep(10000);
		if (vmm_now_ns() - t0 < DST_PAUSE_READ_MS * 1000000ULL)
			continue;
		moved = true;
		for (i = 0; i < nv && moved; i++)
			moved = !vmm_wl_status(vm, i, &st) && st.seq > seq0[i];
		if (moved)
			break;
	}
	if (!moved) {
		rs->pause_note = KMP_RSM_N_NO_PROGRESS;
		return;
	}
	for (i = 0; i < nv; i++)
		if (!vmm_wl_status(vm, i, &st) && st.max_gap_us > max)
			max = st.max_gap_us;
	rs->valid |= KMP_RSM_PAUSE;
	rs->guest_pause_us = max;
}

/* ------------------------------------------------------ a Linux guest -- */

void km_dest_board_init(struct km_dest_board *b)
{
	memset(b, 0, sizeof(*b));
	run_console_init(&b->con);
}

int km_dest_board_attach(struct km_dest_board *b, struct vmm_vm *vm, char *err, size_t errlen)
{
	struct vmm_linux_config lc = {
		.console_out = run_console_out, .console_opaque = &b->con,
	};

	return vmm_linux_attach(vm, &lc, &b->lx, err, errlen);
}

void km_dest_board_start(struct km_dest_board *b, const char *name, const char *sock_path,
			 struct km_vmhost *h)
{
	char err[300];

	if (!b->lx)
		return;
	h->linux_guest = true;
	h->kernel = *vmm_linux_kernel(b->lx) ? vmm_linux_kernel(b->lx) : "(not told)";
	h->cmdline = vmm_linux_cmdline(b->lx);
	if (run_console_open(&b->con, sock_path, err, sizeof(err)) ||
	    run_console_serve(&b->con, b->lx, err, sizeof(err))) {
		fprintf(stderr, "kmigrate listen: %s: warning: the guest runs without its "
			"console here: %s\n", name, err);
		return;
	}
	b->console = true;
	h->console_log = b->con.path;
}

void km_dest_board_free(struct km_dest_board *b)
{
	run_console_close(&b->con);	/* its thread feeds the UART */
	vmm_linux_free(b->lx);
	b->lx = NULL;
}
