/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate: interfaces between the files of kmigrate.ko.
 *
 * Lock order, outermost first:
 *
 *   kmigrate_lock          (session.c) the session registry and the
 *                          host-wide limits
 *   kmigrate_session.lock  the mutable fields of one session
 *
 * Both are mutexes: every path that takes them may sleep.
 */
#ifndef _KMIGRATE_KMIGRATE_H
#define _KMIGRATE_KMIGRATE_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/kmigrate.h>

#include "compat.h"

struct kvm;
struct mm_struct;
struct pid;
struct kmigrate_dp;

/**
 * struct kmigrate_session - one migration session: one open file of
 *	/dev/kmigrate
 * @id: unique while the module is loaded; constant once published
 * @owner: thread group that opened the file; constant
 * @lock: protects @state, @bandwidth and @features
 * @state: enum kmigrate_session_state
 * @bandwidth: cap in bytes per second, 0 means unlimited
 * @features: KMIGRATE_FEATURES_* bits enabled with KMIGRATE_SET_FEATURES
 * @stats: the counters (struct kmigrate_stats; its @state and @bandwidth
 *	fields are filled from the two above when read)
 * @vm_pid: thread group owning the attached VM, NULL when none
 * @nr_vcpus: vCPUs at attach time
 * @mem_bytes: guest memory at attach time
 * @vm_kvm: the attached VM (only compared, under kmigrate_lock and @lock:
 *	no two sessions have the same VM, see kmigrate_session_claim_vm()),
 *	NULL when none
 * @vm_mm: the attached VM's mm (only compared: the VM, which the data path
 *	holds, keeps it allocated), NULL when none
 * @dp: the data path (dp.c): attached VM, bound socket, pacing; NULL
 *	while IDLE.  Used only from the file's own ioctls; set and cleared
 *	with both @dp_lock and @ring_lock held, so either keeps it alive.
 * @dp_lock: serialises the data-path ioctls of this file, except
 *	KMIGRATE_HARVEST
 * @ring_lock: serialises KMIGRATE_HARVEST (the dirty-ring state of @dp),
 *	which thus runs while a send holds @dp_lock; taken after @dp_lock
 *	where both are
 * @bw_wait: a send waiting for the bandwidth cap sleeps here; woken when
 *	@bandwidth changes
 *
 * A session is published in the registry by kmigrate_session_create() and
 * freed by kmigrate_session_destroy() when its file is released.  Outside
 * the file's own operations, it may only be used with kmigrate_lock held.
 */
struct kmigrate_session {
	u32 id;
	struct pid *owner;
	struct mutex lock;	/* protects the fields below up to @dp */
	enum kmigrate_session_state state;
	u64 bandwidth;
	u64 features;
	struct kmigrate_stats stats;
	struct pid *vm_pid;
	u32 nr_vcpus;
	u64 mem_bytes;
	const struct kvm *vm_kvm;
	const struct mm_struct *vm_mm;
	struct kmigrate_dp *dp;
	struct mutex dp_lock;	/* serialises the data-path ioctls */
	struct mutex ring_lock;	/* serialises KMIGRATE_HARVEST */
	wait_queue_head_t bw_wait;
};

/**
 * struct kmigrate_info - a consistent snapshot of the registry
 * @session_count: sessions open now
 * @max_sessions: sessions allowed at once
 * @default_bandwidth: bandwidth cap given to new sessions, 0 = unlimited
 */
struct kmigrate_info {
	u32 session_count;
	u32 max_sessions;
	u64 default_bandwidth;
};

/* session.c */
extern struct mutex kmigrate_lock;

int kmigrate_session_init(void);
int kmigrate_session_create(struct kmigrate_session **sessionp);
void kmigrate_session_destroy(struct kmigrate_session *session);
struct kmigrate_session *kmigrate_session_next(unsigned long *id);
u32 kmigrate_session_generation(void);
void kmigrate_info_get(struct kmigrate_info *info);
void kmigrate_config_update(const u32 *max_sessions,
			    const u64 *default_bandwidth, bool reset);
/*
 * Changes the cap of session @id (netlink); wakes a send waiting for the
 * cap and multicasts %KMIGRATE_EVENT_BANDWIDTH (the caller must not send
 * it again).  -ENOENT: no such session.  Context: process; takes
 * kmigrate_lock and the session's lock.
 */
int kmigrate_session_set_bandwidth(u32 id, u64 bandwidth);
/*
 * Makes @session the one session with @kvm attached: -EBUSY when another
 * session has it (two collectors of one dirty ring corrupt KVM's state of
 * it).  Context: process; takes kmigrate_lock and the sessions' locks.
 */
int kmigrate_session_claim_vm(struct kmigrate_session *session,
			      const struct kvm *kvm);
/*
 * A consistent copy of @session's counters, state and cap.  Context:
 * process; takes session->lock; the caller keeps @session alive (holds
 * kmigrate_lock or is one of the file's own operations).
 */
void kmigrate_session_stats(struct kmigrate_session *session,
			    struct kmigrate_stats *stats);

/*
 * Sets @session's cap, wakes a send waiting for it and multicasts
 * %KMIGRATE_EVENT_BANDWIDTH.  Context: process; the caller keeps @session
 * alive and holds neither session->lock nor (if it holds kmigrate_lock)
 * anything that nests inside it.
 */
void kmigrate_session_bandwidth_set(struct kmigrate_session *session,
				    u64 bandwidth);

/* dp.c */
/*
 * The data-path ioctls (ATTACH_VM .. GET_STATS) of @session's file;
 * -ENOTTY for any other @cmd.  Context: process; takes session->dp_lock.
 */
long kmigrate_dp_ioctl(struct kmigrate_session *session, unsigned int cmd,
		       void __user *argp);
/*
 * Drops everything the data path holds (VM, socket); the file is being
 * released.  Context: process; no ioctl of the file can run.
 */
void kmigrate_dp_release(struct kmigrate_session *session);

/* chardev.c */
int kmigrate_chardev_init(void);
void kmigrate_chardev_exit(void);

/* netlink.c */
int kmigrate_genl_init(void);
void kmigrate_genl_exit(void);
/*
 * Multicasts @event for @session (with its counters) to the events group,
 * if anyone listens.  Context: process, may sleep; must not be called with
 * session->lock held (it takes it).  Never fails the caller.
 */
void kmigrate_genl_event(struct kmigrate_session *session,
			 enum kmigrate_event event);

#endif /* _KMIGRATE_KMIGRATE_H */
