// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: the /dev/kmigrate misc character device.
 *
 * Each open file is one session (session.c); the data-path ioctls are in
 * dp.c.  File operations other than open and release run while the caller
 * holds a reference to the file, so they never race with the release that
 * frees the session; the fops owner reference keeps the module loaded
 * while any file is open.
 */
#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kmigrate.h"

/*
 * A fixed minor (free in the misc device list) lets the device node exist
 * before the module is loaded, and opening it loads the module.
 */
#define KMIGRATE_MINOR		250

/*
 * Opening needs CAP_NET_ADMIN in the initial user namespace, the privilege
 * the generic netlink family asks to list or change sessions (netlink.c):
 * a session takes one of the host's max_sessions and sends guest memory
 * on a socket.  The node's mode 0600 is the first gate; this one still
 * holds when an administrator opens the mode, and refuses root without
 * the capability.  The check is at open, as for other privileged devices:
 * a privileged process may hand the file on.
 *
 * Context: process context, misc_mtx held by misc_open(); takes
 * kmigrate_lock through kmigrate_session_create().
 * Return: 0, -EPERM without CAP_NET_ADMIN, or kmigrate_session_create()'s
 * error.
 */
static int kmigrate_open(struct inode *inode, struct file *file)
{
	struct kmigrate_session *session;
	int err;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;

	err = nonseekable_open(inode, file);
	if (err)
		return err;

	err = kmigrate_session_create(&session);
	if (err)
		return err;

	file->private_data = session;
	return 0;
}

/* Context: process context, last reference to @file gone; takes kmigrate_lock. */
static int kmigrate_release(struct inode *inode, struct file *file)
{
	kmigrate_dp_release(file->private_data);
	kmigrate_session_destroy(file->private_data);
	return 0;
}

/* Context: process context; no lock needed, the answer is constant. */
static long kmigrate_ioctl_get_version(struct kmigrate_version __user *uver)
{
	struct kmigrate_version ver = {
		.abi_version = KMIGRATE_ABI_VERSION,
		.features = KMIGRATE_FEATURES_ALL,
	};
	u32 flags;

	BUILD_BUG_ON(sizeof(KMIGRATE_VERSION) > sizeof(ver.module_version));

	if (get_user(flags, &uver->flags))
		return -EFAULT;
	if (flags)
		return -EOPNOTSUPP;

	strscpy(ver.module_version, KMIGRATE_VERSION,
		sizeof(ver.module_version));
	if (copy_to_user(uver, &ver, sizeof(ver)))
		return -EFAULT;
	return 0;
}

/* Context: process context; takes session->lock. */
static long kmigrate_ioctl_get_features(struct kmigrate_session *session,
					struct kmigrate_features __user *ufeat)
{
	struct kmigrate_features feat = {};

	mutex_lock(&session->lock);
	feat.features = session->features;
	mutex_unlock(&session->lock);

	if (copy_to_user(ufeat, &feat, sizeof(feat)))
		return -EFAULT;
	return 0;
}

/*
 * A non-zero reserved field is malformed (-EINVAL); flags and feature bits
 * this module does not know are unsupported (-EOPNOTSUPP).
 *
 * Context: process context; takes session->lock.
 */
static long kmigrate_ioctl_set_features(struct kmigrate_session *session,
					struct kmigrate_features __user *ufeat)
{
	struct kmigrate_features feat;

	if (copy_from_user(&feat, ufeat, sizeof(feat)))
		return -EFAULT;
	if (feat.reserved)
		return -EINVAL;
	if (feat.flags || (feat.features & ~KMIGRATE_FEATURES_ALL))
		return -EOPNOTSUPP;

	mutex_lock(&session->lock);
	session->features = feat.features;
	mutex_unlock(&session->lock);
	return 0;
}

static long kmigrate_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct kmigrate_session *session = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case KMIGRATE_GET_VERSION:
		return kmigrate_ioctl_get_version(argp);
	case KMIGRATE_GET_FEATURES:
		return kmigrate_ioctl_get_features(session, argp);
	case KMIGRATE_SET_FEATURES:
		return kmigrate_ioctl_set_features(session, argp);
	default:
		return kmigrate_dp_ioctl(session, cmd, argp);
	}
}

static const struct file_operations kmigrate_fops = {
	.owner		= THIS_MODULE,
	.open		= kmigrate_open,
	.release	= kmigrate_release,
	.unlocked_ioctl	= kmigrate_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice kmigrate_miscdev = {
	.minor		= KMIGRATE_MINOR,
	.name		= KMIGRATE_DEVICE_NAME,
	.fops		= &kmigrate_fops,
	.mode		= 0600,
};

/* Context: module init; the device is usable as soon as this returns. */
int kmigrate_chardev_init(void)
{
	return misc_register(&kmigrate_miscdev);
}

/* Context: module exit; no file is open (each holds a module reference). */
void kmigrate_chardev_exit(void)
{
	misc_deregister(&kmigrate_miscdev);
}

MODULE_ALIAS_MISCDEV(KMIGRATE_MINOR);
MODULE_ALIAS("devname:" KMIGRATE_DEVICE_NAME);
