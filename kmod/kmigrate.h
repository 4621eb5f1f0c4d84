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
#include <linux/kmigrate.h>

#include "compat.h"

struct pid;

/**
 * struct kmigrate_session - one migration session: one open file of
 *	/dev/kmigrate
 * @id: unique while the module is loaded; constant once published
 * @owner: thread group that opened the file; constant
 * @lock: protects @state, @bandwidth and @features
 * @state: enum kmigrate_session_state
 * @bandwidth: cap in bytes per second, 0 means unlimited
 * @features: KMIGRATE_FEATURES_* bits enabled with KMIGRATE_SET_FEATURES
 *
 * A session is published in the registry by kmigrate_session_create() and
 * freed by kmigrate_session_destroy() when its file is released.  Outside
 * the file's own operations, it may only be used with kmigrate_lock held.
 */
struct kmigrate_session {
	u32 id;
	struct pid *owner;
	struct mutex lock;	/* protects the three fields below */
	enum kmigrate_session_state state;
	u64 bandwidth;
	u64 features;
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

/* chardev.c */
int kmigrate_chardev_init(void);
void kmigrate_chardev_exit(void);

/* netlink.c */
int kmigrate_genl_init(void);
void kmigrate_genl_exit(void);

#endif /* _KMIGRATE_KMIGRATE_H */
