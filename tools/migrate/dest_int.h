/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The destination's insides, shared by its two files (dest.h has the
 * interface):
 *
 *   dest.c         the run: receiving, the control socket, COMMIT, the
 *                  guest's resume and its RESUMED report
 *   dest_stream.c  the stream's records as the decoder hands them over:
 *                  HELLO and the pre-flight checks, pages, state, END ->
 *                  READY, SWITCHBACK, COMMIT, ABORT
 */
#ifndef KM_DEST_INT_H
#define KM_DEST_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "dest.h"
#include "proto.h"
#include "tls.h"
#include "vmm.h"
#include "ctl.h"
#include "dest_guest.h"

struct dst {
	const struct km_dest_opts *o;
	int fd;
	struct km_chan *ch;	/* every byte of the stream goes through it (tls.h) */
	struct km_chan plain;	/* ... or this one, the socket's own calls */
	struct kmp_dec *dec;
	struct kmp_enc enc;
	struct vmm_vm *vm;
	struct km_ctl_server srv;
	bool srv_open;
	char name[KMP_NAME_SIZE];
	bool name_sent;			/* to the listener (dst_notify_name) */
	unsigned int nr_vcpus;
	struct vmm_state vmst;
	struct vmm_state *vst;
	bool have_vmst;
	uint64_t states;
	uint32_t switchbacks;		/* switch-overs the source aborted */
	bool ready, commit, aborted;
	struct kmp_error abort;
	uint32_t err_code;		/* an ERROR to send, with err */
	char err[640];			/* the abort reason (up to KMP_MAX_MSG) and more */
	uint64_t pages, zero;
	uint64_t hole_pages;		/* in HOLE ranges */
	uint64_t punched, zero_written;	/* zeroing: fallocate, or memset */
	uint64_t zrun_gfn, zrun_n;	/* ZERO gfns not zeroed yet: one run */
	int64_t zrun_page;		/* its first RAM page */
	bool sparse;			/* HELLO has SPARSE */
	uint64_t populated;		/* PROFILE's mem_populated (SPARSE) */
	int64_t pop_created;		/* guest RAM held here once created */
	uint64_t rss_created;
	uint64_t t_hello, t_end, t_commit;
	uint64_t features;		/* optional features in use (ACCEPT) */
	bool profiled, checked;		/* PROFILE passed the checks; CHECK done */
	bool pf_failed;			/* d->err has the failed checks' lines */
	bool pf_done;			/* preflight.h checks passed */
	bool check_only;		/* HELLO with CHECK: never a migration */
	char model[KMP_MODEL_SIZE];	/* the guest's CPU model (PROFILE) */
	bool board;			/* HELLO has BOARD: MACHINE follows PROFILE */
	struct kmp_profile *profile;	/* ... which waits for it here */
	struct kmp_machine machine;	/* ... the guest's board and devices */
	bool got_machine;
	struct km_dest_board brd;	/* ... a Linux guest's board and console */
	struct vmm_state devst;		/* ... and its devices' state */
	bool have_devst;
};

/* dest_stream.c */
int dst_error(struct dst *d, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dst_send(struct dst *d, const void *buf, size_t len);
extern const struct kmp_dec_ops dst_ops;

#endif /* KM_DEST_INT_H */
