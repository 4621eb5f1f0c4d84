// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: migration sessions and the host-wide limits that govern them.
 *
 * Every open file of /dev/kmigrate is one session.  The registry is an
 * allocating xarray of sessions indexed by id, plus the session count, a
 * generation number bumped on every change, and the limits; kmigrate_lock
 * protects all of it, so a holder sees them consistent with each other.
 */
#include <linux/errno.h>
#include <linux/lockdep.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/stringify.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "kmigrate.h"

/* Load-time defaults; KMIGRATE_CONFIG_F_RESET returns to them. */
static unsigned int max_sessions_param = KMIGRATE_MAX_SESSIONS_DEFAULT;
module_param_named(max_sessions, max_sessions_param, uint, 0444);
MODULE_PARM_DESC(max_sessions,
		 "Sessions allowed at once, load-time default (1-"
		 __stringify(KMIGRATE_MAX_SESSIONS_LIMIT) ", default "
		 __stringify(KMIGRATE_MAX_SESSIONS_DEFAULT) ")");

static unsigned long long default_bandwidth_param;
module_param_named(default_bandwidth, default_bandwidth_param, ullong, 0444);
MODULE_PARM_DESC(default_bandwidth,
		 "Bandwidth cap of new sessions in bytes/s, load-time default (0 = unlimited)");

/* Protects the registry: every variable below. */
DEFINE_MUTEX(kmigrate_lock);

static DEFINE_XARRAY_ALLOC1(kmigrate_sessions);
static u32 kmigrate_next_id;
static u32 kmigrate_session_count;
static u32 kmigrate_generation = 1;
static u32 kmigrate_max_sessions;
static u64 kmigrate_default_bandwidth;

/**
 * kmigrate_session_init - check the module parameters and apply them
 *
 * Context: module init, before any other entry point is registered.
 * Return: 0, or -EINVAL when a parameter is out of range.
 */
int kmigrate_session_init(void)
{
	if (max_sessions_param < 1 ||
	    max_sessions_param > KMIGRATE_MAX_SESSIONS_LIMIT) {
		pr_err("max_sessions=%u is outside 1..%u\n",
		       max_sessions_param, KMIGRATE_MAX_SESSIONS_LIMIT);
		return -EINVAL;
	}

	kmigrate_max_sessions = max_sessions_param;
	kmigrate_default_bandwidth = default_bandwidth_param;
	return 0;
}

/*
 * Record a change of the set of sessions, for netlink dumps to notice.
 * Zero is skipped: a dump reads it as "no generation seen yet".
 *
 * Context: kmigrate_lock held.
 */
static void kmigrate_registry_changed(void)
{
	lockdep_assert_held(&kmigrate_lock);

	if (!++kmigrate_generation)
		kmigrate_generation = 1;
}

/**
 * kmigrate_session_create - create and publish a session for the caller
 * @sessionp: set to the new session on success
 *
 * The session belongs to the current thread group, starts idle and gets
 * the current default bandwidth.  Ids are allocated cyclically, so an id is
 * not reused until the id space wraps.
 *
 * Context: process context; takes kmigrate_lock.
 * Return: 0, -EBUSY when max_sessions sessions are open (or no id is
 * free), -ENOMEM.
 */
int kmigrate_session_create(struct kmigrate_session **sessionp)
{
	struct kmigrate_session *session;
	int err;

	session = kzalloc(sizeof(*session), GFP_KERNEL_ACCOUNT);
	if (!session)
		return -ENOMEM;

	mutex_init(&session->lock);
	mutex_init(&session->dp_lock);
	mutex_init(&session->ring_lock);
	init_waitqueue_head(&session->bw_wait);
	session->owner = get_task_pid(current, PIDTYPE_TGID);
	session->state = KMIGRATE_SESSION_IDLE;

	mutex_lock(&kmigrate_lock);
	if (kmigrate_session_count >= kmigrate_max_sessions) {
		err = -EBUSY;
		goto err_unlock;
	}
	session->bandwidth = kmigrate_default_bandwidth;

	err = xa_alloc_cyclic(&kmigrate_sessions, &session->id, session,
			      xa_limit_31b, &kmigrate_next_id, GFP_KERNEL);
	if (err < 0)
		goto err_unlock;

	kmigrate_session_count++;
	kmigrate_registry_changed();
	mutex_unlock(&kmigrate_lock);

	*sessionp = session;
	return 0;

err_unlock:
	mutex_unlock(&kmigrate_lock);
	put_pid(session->owner);
	mutex_destroy(&session->ring_lock);
	mutex_destroy(&session->dp_lock);
	mutex_destroy(&session->lock);
	kfree(session);
	return err;
}

/**
 * kmigrate_session_destroy - unpublish a session and free it
 * @session: from kmigrate_session_create(); its file is being released
 *
 * Context: process context; takes kmigrate_lock.  No other reference to
 * @session may remain: the file is gone, and registry users hold
 * kmigrate_lock, which this waits for.
 */
void kmigrate_session_destroy(struct kmigrate_session *session)
{
	mutex_lock(&kmigrate_lock);
	xa_erase(&kmigrate_sessions, session->id);
	kmigrate_session_count--;
	kmigrate_registry_changed();
	mutex_unlock(&kmigrate_lock);

	put_pid(session->owner);
	put_pid(session->vm_pid);
	mutex_destroy(&session->ring_lock);
	mutex_destroy(&session->dp_lock);
	mutex_destroy(&session->lock);
	kfree(session);
}

/**
 * kmigrate_session_next - find the session with the lowest id >= *@id
 * @id: where to start; set to the id of the session found
 *
 * Context: kmigrate_lock held; the session stays valid until it is dropped.
 * Return: the session, or NULL when there is none.
 */
struct kmigrate_session *kmigrate_session_next(unsigned long *id)
{
	lockdep_assert_held(&kmigrate_lock);

	return xa_find(&kmigrate_sessions, id, ULONG_MAX, XA_PRESENT);
}

/**
 * kmigrate_session_generation - generation of the set of sessions
 *
 * Context: kmigrate_lock held.
 * Return: a non-zero number that changes whenever a session is created
 * or destroyed.
 */
u32 kmigrate_session_generation(void)
{
	lockdep_assert_held(&kmigrate_lock);

	return kmigrate_generation;
}

/**
 * kmigrate_info_get - take a consistent snapshot of the registry
 * @info: filled in
 *
 * Context: process context; takes kmigrate_lock.
 */
void kmigrate_info_get(struct kmigrate_info *info)
{
	mutex_lock(&kmigrate_lock);
	info->session_count = kmigrate_session_count;
	info->max_sessions = kmigrate_max_sessions;
	info->default_bandwidth = kmigrate_default_bandwidth;
	mutex_unlock(&kmigrate_lock);
}

/**
 * kmigrate_config_update - change the host-wide limits at once
 * @max_sessions: new limit (1..KMIGRATE_MAX_SESSIONS_LIMIT), or NULL
 * @default_bandwidth: new default bandwidth, or NULL
 * @reset: first restore both limits to their load-time defaults
 *
 * Open sessions keep running when @max_sessions drops below their count;
 * only new ones are refused.  Open sessions keep their bandwidth.
 *
 * Context: process context; takes kmigrate_lock.
 */
void kmigrate_config_update(const u32 *max_sessions,
			    const u64 *default_bandwidth, bool reset)
{
	mutex_lock(&kmigrate_lock);
	if (reset) {
		kmigrate_max_sessions = max_sessions_param;
		kmigrate_default_bandwidth = default_bandwidth_param;
	}
	if (max_sessions)
		kmigrate_max_sessions = *max_sessions;
	if (default_bandwidth)
		kmigrate_default_bandwidth = *default_bandwidth;
	mutex_unlock(&kmigrate_lock);
}

/**
 * kmigrate_session_bandwidth_set - change one session's cap
 * @session: kept alive by the caller
 * @bandwidth: bytes per second, 0 = unlimited
 *
 * A send waiting for the cap (dp.c) sleeps on @session->bw_wait and looks
 * at the cap again when woken, so the change applies at once.
 *
 * Context: process context; takes session->lock, then sends the event
 * (which takes it again).
 */
void kmigrate_session_bandwidth_set(struct kmigrate_session *session,
				    u64 bandwidth)
{
	mutex_lock(&session->lock);
	WRITE_ONCE(session->bandwidth, bandwidth);
	mutex_unlock(&session->lock);
	wake_up_all(&session->bw_wait);
	kmigrate_genl_event(session, KMIGRATE_EVENT_BANDWIDTH);
}

/**
 * kmigrate_session_set_bandwidth - change the cap of the session @id
 * @id: session id
 * @bandwidth: bytes per second, 0 = unlimited
 *
 * Context: process context; takes kmigrate_lock (which keeps the session
 * alive) and the session's lock.
 * Return: 0, or -ENOENT when there is no session @id.
 */
int kmigrate_session_set_bandwidth(u32 id, u64 bandwidth)
{
	struct kmigrate_session *session;
	int err = 0;

	mutex_lock(&kmigrate_lock);
	session = xa_load(&kmigrate_sessions, id);
	if (session)
		kmigrate_session_bandwidth_set(session, bandwidth);
	else
		err = -ENOENT;
	mutex_unlock(&kmigrate_lock);
	return err;
}

/**
 * kmigrate_session_claim_vm - attach @kvm to @session, if no other has it
 * @session: kept alive by the caller, with no VM attached
 * @kvm: the VM (only compared)
 *
 * A VM's dirty rings may have one collector only: each session keeps its
 * own read position in them and hands entries back to KVM, so a second
 * session reads behind the first and hands back (or, resyncing after what
 * looks like an overflow, marks as collected) ring slots that KVM has
 * already reset, which makes KVM's reset run past the entries it pushed:
 * the ring then counts as full for ever (a WARN in kvm_dirty_ring_push(),
 * a vCPU that cannot run again).  The check and the claim are one step
 * under kmigrate_lock, so of two attaches at once one wins.
 *
 * Context: process context; takes kmigrate_lock, then each session's
 * lock in turn (never two at once).  The caller releases the claim by
 * clearing @session->vm_kvm under its lock.
 * Return: 0, or -EBUSY when another session has @kvm attached.
 */
int kmigrate_session_claim_vm(struct kmigrate_session *session,
			      const struct kvm *kvm)
{
	struct kmigrate_session *other;
	unsigned long id = 0;
	bool busy = false;

	mutex_lock(&kmigrate_lock);
	while (!busy && (other = kmigrate_session_next(&id))) {
		if (other != session) {
			mutex_lock(&other->lock);
			busy = other->vm_kvm == kvm;
			mutex_unlock(&other->lock);
		}
		id++;
	}
	if (!busy) {
		mutex_lock(&session->lock);
		session->vm_kvm = kvm;
		mutex_unlock(&session->lock);
	}
	mutex_unlock(&kmigrate_lock);
	return busy ? -EBUSY : 0;
}

/**
 * kmigrate_session_stats - a consistent copy of a session's counters
 * @session: kept alive by the caller
 * @stats: filled in
 *
 * Context: process context; takes session->lock.
 */
void kmigrate_session_stats(struct kmigrate_session *session,
			    struct kmigrate_stats *stats)
{
	mutex_lock(&session->lock);
	*stats = session->stats;
	stats->state = session->state;
	stats->bandwidth = session->bandwidth;
	mutex_unlock(&session->lock);
}
