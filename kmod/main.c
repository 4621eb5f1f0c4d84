// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: kernel-assisted live migration of KVM guests.
 *
 * Module entry points only.  Sessions live in session.c, the /dev/kmigrate
 * misc device in chardev.c and the generic netlink family in netlink.c.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "kmigrate.h"

static int __init kmigrate_init(void)
{
	int err;

	err = kmigrate_session_init();
	if (err)
		return err;

	err = kmigrate_genl_init();
	if (err)
		return err;

	/* Last: the device node is what users and udev act upon. */
	err = kmigrate_chardev_init();
	if (err)
		goto err_genl;

	pr_info("version %s, ABI %d\n", KMIGRATE_VERSION, KMIGRATE_ABI_VERSION);
	return 0;

err_genl:
	kmigrate_genl_exit();
	return err;
}

static void __exit kmigrate_exit(void)
{
	kmigrate_chardev_exit();
	kmigrate_genl_exit();
}

module_init(kmigrate_init);
module_exit(kmigrate_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kmigrate developers");
MODULE_DESCRIPTION("Kernel-assisted live migration of KVM guests");
MODULE_VERSION(KMIGRATE_VERSION);
