/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: announce-self (announce.c).  After a migrated guest resumes on
 * the destination, the frames that make the bridge and the switches
 * upstream learn the new port of each NIC's MAC, sent into each NIC's tap
 * as if the guest had sent them, in a few rounds with growing spacing, by
 * a thread of its own: the vCPUs never wait for it.
 *
 * The VM's side (vmm_announce_start/stop) is in vmm.h; this is the part
 * that works on any tap file descriptors, for the tests.
 */
#ifndef KMIGRATE_ANNOUNCE_H
#define KMIGRATE_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm.h"

#define ANNOUNCE_FRAME_LEN	86	/* the longest frame (the NA), no FCS */
#define ANNOUNCE_MAX_NICS	VMM_MAX_DEVICES

/*
 * RARP (ethertype 0x8035, "reverse request", as QEMU's announce-self
 * sends): broadcast, source and target hardware address @mac, protocol
 * addresses 0.0.0.0; padded to 60 bytes.  Returns its length.
 */
size_t announce_rarp(uint8_t *buf, const uint8_t mac[6]);
/*
 * An unsolicited IPv6 neighbour advertisement (RFC 4861 7.2.6) for the
 * link-local address a guest derives from @mac (EUI-64, RFC 4291 App. A),
 * to all-nodes (ff02::1, 33:33:00:00:00:01), override flag set, with the
 * target link-layer address option.  Returns its length.
 */
size_t announce_na(uint8_t *buf, const uint8_t mac[6]);

struct announce_nic {
	int fd;			/* a tap; announce_job_start() dups it */
	unsigned int hdr_len;	/* the tap's vnet header (0, or 10/12 bytes) */
	uint8_t mac[6];
	char name[16];		/* for messages */
};

struct announce_job;

/*
 * Sends round 1 at once from a new thread, then round k+1 after
 * initial_ms + (k - 1) * step_ms.  Each round: a RARP and an NA per NIC.
 * Returns 0 or -errno.
 */
int announce_job_start(struct announce_job **out, const struct announce_nic *nics,
		       unsigned int nr, const struct vmm_announce_params *p, FILE *log);
/* Stops the thread (at once, between two frames) and frees the job. */
void announce_job_stop(struct announce_job *job, struct vmm_announce_stats *st);

#endif
