// SPDX-License-Identifier: GPL-2.0
/*
 * ipsec.ko -- a TEST STAND-IN for FreeS/WAN's KLIPS module. THIS IS NOT KLIPS.
 *
 * It does no IPsec at all. It exists so that stackmgr's qemu tests can load a
 * module named "ipsec" that leaves the same footprint in a modern kernel as
 * KLIPS (FreeS/WAN 2.x) did, and so conflicts with the native stack exactly
 * where KLIPS did:
 *
 *  - it registers the PF_KEY socket family (socket(PF_KEY, SOCK_RAW,
 *    PF_KEY_V2) gives a socket that accepts nothing), so it cannot load while
 *    af_key is loaded (-EEXIST) and af_key cannot load over it;
 *  - it claims the IPv4 protocol handlers of ESP (50) and AH (51) with
 *    inet_add_protocol(), as KLIPS did, so its init fails with -EEXIST while
 *    esp4 or ah4 is loaded (module parameter claim_protocols=0 turns that off).
 *    The other order, esp4/ah4 over a live stand-in, fails with -EAGAIN and
 *    leaves a stale entry in the kernel's xfrm4 protocol list: provoke that
 *    only in a guest boot of its own;
 *  - it creates FreeS/WAN 2.x's /proc layout: /proc/net/ipsec/{version,
 *    eroute/all, spi/all, spigrp/all, tncfg} with the compatibility symlinks
 *    /proc/net/ipsec_{version,eroute,spi,spigrp,tncfg}, files mode 0400 as in
 *    KLIPS 2.x;
 *  - it creates the sysctl directory /proc/sys/net/ipsec (debug_verbose, icmp,
 *    inbound_policy_check, tos: names from KLIPS's sysctl_net_ipsec.c);
 *  - it creates the net device ipsec0, which drops whatever it is given.
 * Unloading undoes all of it, in reverse order.
 *
 * The eroute and SA tables are empty unless the module parameter
 * sample_entries=1 is given (writable at run time through
 * /sys/module/ipsec/parameters/sample_entries); then they show a few fixed
 * lines so that a parser can be tested against real /proc files. Formats, as
 * printed by KLIPS (read for reference only, no code taken):
 *  - /proc/net/ipsec_eroute: ipsec_rj_walker_procprint() in KLIPS
 *    ipsec_radij.c: "%-10d %-18s -> %-18s => %s\n" with the packet count, the
 *    source and destination subnets and the SA ID (satot() 'x' form, e.g.
 *    tun0x1002@192.0.2.2, or a magic SA such as %trap, %pass, %hold); the
 *    FreeS/WAN 2.04 ipsec_eroute(5) man page describes the same columns.
 *  - /proc/net/ipsec_spi: ipsec_spi_get_info() in KLIPS ipsec_proc.c: SA ID,
 *    transform name (IPS_XFORM_NAME, e.g. ESP_3DES_HMAC_MD5), ": dir=in " or
 *    ": dir=out", then optional " src=", " policy=a->b", " iv_bits=NNbits
 *    iv=0x..", " ooowin=", " seq=", " bit=0x..", " flags=0x..<>", " alen=",
 *    " aklen=", " eklen=", then " life(c,s,h)=" followed by
 *    name(count,soft,hard) groups in the order alloc bytes addtime usetime
 *    packets, each printed only when it is set (ipsec_lifetime_format() in
 *    ipsec_life.c). Openswan later appended natencap= and refcount= fields;
 *    FreeS/WAN 2.06 had neither, and neither has this file.
 *  - /proc/net/ipsec/version: "FreeS/WAN version: %s\n" (ipsec_proc.c of
 *    FreeS/WAN; Openswan printed "Openswan version:"). The version here is
 *    "2.06 (stackmgr test stand-in)": the first word after "version: " is the
 *    version number, as in KLIPS.
 *  - /proc/net/ipsec_tncfg: "ipsec0 -> NULL mtu=0(0) -> 0" for an ipsec device
 *    not attached to a physical one (ipsec_tncfg_get_info()).
 */

#include <linux/errno.h>
#include <linux/if_arp.h>
#include <linux/in.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/pfkeyv2.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>
#include <net/protocol.h>
#include <net/sock.h>

#define STANDIN_VERSION "2.06 (stackmgr test stand-in)"

static bool sample_entries;
module_param(sample_entries, bool, 0644);
MODULE_PARM_DESC(sample_entries,
		 "show fixed sample lines in /proc/net/ipsec_eroute and /proc/net/ipsec_spi");

static bool claim_protocols = true;
module_param(claim_protocols, bool, 0444);
MODULE_PARM_DESC(claim_protocols,
		 "claim the IPv4 ESP and AH protocol handlers as KLIPS did (default on)");

static unsigned int exit_delay_ms;
module_param(exit_delay_ms, uint, 0644);
MODULE_PARM_DESC(exit_delay_ms,
		 "sleep this long when unloaded, so the module stays GOING (tests of slow module work)");

/* ---- PF_KEY: a socket family that exists and accepts nothing ---- */

static struct proto standin_key_proto = {
	.name = "STANDIN_KEY",
	.owner = THIS_MODULE,
	.obj_size = sizeof(struct sock),
};

static int standin_key_release(struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (!sk)
		return 0;
	sock_orphan(sk);
	sock->sk = NULL;
	sock_put(sk);
	return 0;
}

static int standin_key_ioctl(struct socket *sock, unsigned int cmd, unsigned long arg)
{
	return -ENOIOCTLCMD;
}

static int standin_key_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	/* KLIPS would parse a PF_KEY v2 message here; the stand-in cannot. */
	return -EOPNOTSUPP;
}

static const struct proto_ops standin_key_ops = {
	.family = PF_KEY,
	.owner = THIS_MODULE,
	.release = standin_key_release,
	.bind = sock_no_bind,
	.connect = sock_no_connect,
	.socketpair = sock_no_socketpair,
	.accept = sock_no_accept,
	.getname = sock_no_getname,
	.poll = datagram_poll,
	.ioctl = standin_key_ioctl,
	.listen = sock_no_listen,
	.shutdown = sock_no_shutdown,
	.sendmsg = standin_key_sendmsg,
	.recvmsg = sock_no_recvmsg,
	.mmap = sock_no_mmap,
	.sendpage = sock_no_sendpage,
};

static int standin_key_create(struct net *net, struct socket *sock, int protocol, int kern)
{
	struct sock *sk;

	if (!ns_capable(net->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (sock->type != SOCK_RAW)
		return -ESOCKTNOSUPPORT;
	if (protocol != PF_KEY_V2)
		return -EPROTONOSUPPORT;

	sk = sk_alloc(net, PF_KEY, GFP_KERNEL, &standin_key_proto, kern);
	if (!sk)
		return -ENOMEM;
	sock->ops = &standin_key_ops;
	sock_init_data(sock, sk);
	sk->sk_family = PF_KEY;
	return 0;
}

static const struct net_proto_family standin_key_family = {
	.family = PF_KEY,
	.create = standin_key_create,
	.owner = THIS_MODULE,
};

/* ---- IPv4 protocol handlers for ESP and AH: drop everything ---- */

static int standin_ip_rcv(struct sk_buff *skb)
{
	kfree_skb(skb);
	return 0;
}

static int standin_ip_err(struct sk_buff *skb, u32 info)
{
	return 0;
}

static const struct net_protocol standin_esp_protocol = {
	.handler = standin_ip_rcv,
	.err_handler = standin_ip_err,
	.no_policy = 1,
};

static const struct net_protocol standin_ah_protocol = {
	.handler = standin_ip_rcv,
	.err_handler = standin_ip_err,
	.no_policy = 1,
};

/* ---- ipsec0 ---- */

static struct net_device *standin_dev;

static netdev_tx_t standin_dev_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev->stats.tx_dropped++;
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops standin_dev_ops = {
	.ndo_start_xmit = standin_dev_xmit,
};

static void standin_dev_setup(struct net_device *dev)
{
	dev->netdev_ops = &standin_dev_ops;
	dev->type = ARPHRD_VOID; /* as KLIPS's unattached ipsecN */
	dev->flags = IFF_NOARP;
	dev->hard_header_len = 0;
	dev->addr_len = 0;
	dev->mtu = 0; /* KLIPS left an unattached ipsecN at mtu 0 */
	dev->min_mtu = 0;
	dev->max_mtu = 16260;
	dev->tx_queue_len = 10;
}

/* ---- /proc/net/ipsec ---- */

static struct proc_dir_entry *proc_ipsec_dir;

static int standin_version_show(struct seq_file *m, void *v)
{
	seq_printf(m, "FreeS/WAN version: %s\n", STANDIN_VERSION);
	return 0;
}

struct standin_eroute {
	unsigned int count;
	const char *src;
	const char *dst;
	const char *said;
};

static const struct standin_eroute sample_eroutes[] = {
	{ 10, "192.168.1.0/24", "192.168.2.0/24", "tun0x1002@192.0.2.2" },
	{ 0, "192.0.2.1/32", "198.51.100.0/24", "%trap" },
	{ 42, "192.0.2.1/32", "203.0.113.53/32", "%pass" },
};

static int standin_eroute_show(struct seq_file *m, void *v)
{
	size_t i;

	if (!sample_entries)
		return 0;
	for (i = 0; i < ARRAY_SIZE(sample_eroutes); i++)
		seq_printf(m, "%-10u %-18s -> %-18s => %s\n", sample_eroutes[i].count,
			   sample_eroutes[i].src, sample_eroutes[i].dst, sample_eroutes[i].said);
	return 0;
}

/* Whole lines, already in KLIPS's field order (see the header comment). */
static const char *const sample_sas[] = {
	"tun0x1002@192.0.2.2 IPIP: dir=out src=192.0.2.1 life(c,s,h)=addtime(60,0,0)",
	"esp0x4a3f1b2c@192.0.2.2 ESP_3DES_HMAC_MD5: dir=out src=192.0.2.1 iv_bits=64bits iv=0x0123456789abcdef ooowin=64 alen=128 aklen=128 eklen=192 life(c,s,h)=bytes(1234,0,0)addtime(60,0,0)packets(10,0,0)",
	"tun0x1001@192.0.2.1 IPIP: dir=in  src=192.0.2.2 policy=192.168.2.0/24->192.168.1.0/24 flags=0x8<> life(c,s,h)=addtime(60,0,0)",
	"esp0x8c2d5e71@192.0.2.1 ESP_3DES_HMAC_MD5: dir=in  src=192.0.2.2 iv_bits=64bits iv=0xfedcba9876543210 ooowin=64 seq=10 bit=0x3ff alen=128 aklen=128 eklen=192 life(c,s,h)=bytes(1234,0,0)addtime(60,0,0)packets(10,0,0)",
};

static int standin_spi_show(struct seq_file *m, void *v)
{
	size_t i;

	if (!sample_entries)
		return 0;
	for (i = 0; i < ARRAY_SIZE(sample_sas); i++)
		seq_printf(m, "%s\n", sample_sas[i]);
	return 0;
}

static int standin_spigrp_show(struct seq_file *m, void *v)
{
	if (!sample_entries)
		return 0;
	seq_puts(m, "tun0x1002@192.0.2.2 esp0x4a3f1b2c@192.0.2.2 \n");
	seq_puts(m, "tun0x1001@192.0.2.1 esp0x8c2d5e71@192.0.2.1 \n");
	return 0;
}

static int standin_tncfg_show(struct seq_file *m, void *v)
{
	if (standin_dev)
		seq_printf(m, "%s -> NULL mtu=%d(0) -> 0\n", standin_dev->name, standin_dev->mtu);
	return 0;
}

/* Compatibility symlinks in /proc/net, as FreeS/WAN 2.x made them. */
static const char *const proc_links[][2] = {
	{ "ipsec_eroute", "ipsec/eroute/all" },	{ "ipsec_spi", "ipsec/spi/all" },
	{ "ipsec_spigrp", "ipsec/spigrp/all" }, { "ipsec_tncfg", "ipsec/tncfg" },
	{ "ipsec_version", "ipsec/version" },
};

static void standin_proc_cleanup(void)
{
	int i;

	for (i = ARRAY_SIZE(proc_links) - 1; i >= 0; i--)
		remove_proc_entry(proc_links[i][0], init_net.proc_net);
	remove_proc_subtree("ipsec", init_net.proc_net);
	proc_ipsec_dir = NULL;
}

static int standin_proc_init(void)
{
	struct proc_dir_entry *d;
	size_t i;

	proc_ipsec_dir = proc_mkdir("ipsec", init_net.proc_net);
	if (!proc_ipsec_dir)
		return -EEXIST; /* /proc/net/ipsec exists already */

	if (!proc_create_single("version", 0400, proc_ipsec_dir, standin_version_show))
		goto fail;
	if (!proc_create_single("tncfg", 0400, proc_ipsec_dir, standin_tncfg_show))
		goto fail;
	d = proc_mkdir("eroute", proc_ipsec_dir);
	if (!d || !proc_create_single("all", 0400, d, standin_eroute_show))
		goto fail;
	d = proc_mkdir("spi", proc_ipsec_dir);
	if (!d || !proc_create_single("all", 0400, d, standin_spi_show))
		goto fail;
	d = proc_mkdir("spigrp", proc_ipsec_dir);
	if (!d || !proc_create_single("all", 0400, d, standin_spigrp_show))
		goto fail;
	for (i = 0; i < ARRAY_SIZE(proc_links); i++)
		if (!proc_symlink(proc_links[i][0], init_net.proc_net, proc_links[i][1]))
			goto fail;
	return 0;

fail:
	standin_proc_cleanup();
	return -ENOMEM;
}

/* ---- /proc/sys/net/ipsec ---- */

static int sysctl_debug_verbose;
static int sysctl_icmp = 1;
static int sysctl_inbound_policy_check = 1;
static int sysctl_tos;

static struct ctl_table standin_sysctl_table[] = {
	{ .procname = "debug_verbose", .data = &sysctl_debug_verbose, .maxlen = sizeof(int),
	  .mode = 0644, .proc_handler = proc_dointvec },
	{ .procname = "icmp", .data = &sysctl_icmp, .maxlen = sizeof(int), .mode = 0644,
	  .proc_handler = proc_dointvec },
	{ .procname = "inbound_policy_check", .data = &sysctl_inbound_policy_check,
	  .maxlen = sizeof(int), .mode = 0644, .proc_handler = proc_dointvec },
	{ .procname = "tos", .data = &sysctl_tos, .maxlen = sizeof(int), .mode = 0644,
	  .proc_handler = proc_dointvec },
	{}
};

static struct ctl_table_header *standin_sysctl_header;

/* ---- module init/exit ---- */

static void standin_del_protocol(const struct net_protocol *prot, unsigned char num)
{
	inet_del_protocol(prot, num);
	synchronize_net();
}

static int __init standin_init(void)
{
	int err;

	pr_info("ipsec: stackmgr KLIPS test stand-in, FreeS/WAN version %s: loading (this is NOT KLIPS)\n",
		STANDIN_VERSION);

	err = proto_register(&standin_key_proto, 0);
	if (err)
		return err;

	err = sock_register(&standin_key_family);
	if (err) {
		pr_err("ipsec: stand-in: cannot register the PF_KEY socket family: error %d (another PF_KEY implementation, e.g. af_key, is loaded)\n",
		       err);
		goto out_proto;
	}

	if (claim_protocols) {
		if (inet_add_protocol(&standin_esp_protocol, IPPROTO_ESP) < 0) {
			pr_err("ipsec: stand-in: cannot claim IPv4 protocol 50 (ESP): the handler is taken (esp4 loaded?): error %d\n",
			       -EEXIST);
			err = -EEXIST;
			goto out_sock;
		}
		if (inet_add_protocol(&standin_ah_protocol, IPPROTO_AH) < 0) {
			pr_err("ipsec: stand-in: cannot claim IPv4 protocol 51 (AH): the handler is taken (ah4 loaded?): error %d\n",
			       -EEXIST);
			err = -EEXIST;
			goto out_esp;
		}
	}

	err = standin_proc_init();
	if (err) {
		pr_err("ipsec: stand-in: cannot create /proc/net/ipsec: error %d\n", err);
		goto out_ah;
	}

	standin_sysctl_header = register_sysctl("net/ipsec", standin_sysctl_table);
	if (!standin_sysctl_header) {
		pr_err("ipsec: stand-in: cannot register /proc/sys/net/ipsec\n");
		err = -ENOMEM;
		goto out_proc;
	}

	standin_dev = alloc_netdev(0, "ipsec0", NET_NAME_PREDICTABLE, standin_dev_setup);
	if (!standin_dev) {
		err = -ENOMEM;
		goto out_sysctl;
	}
	err = register_netdev(standin_dev);
	if (err) {
		pr_err("ipsec: stand-in: cannot register ipsec0: error %d\n", err);
		free_netdev(standin_dev);
		standin_dev = NULL;
		goto out_sysctl;
	}

	pr_info("ipsec: stand-in live: PF_KEY family%s, /proc/net/ipsec, /proc/sys/net/ipsec, %s\n",
		claim_protocols ? ", IPv4 protocols 50 (ESP) and 51 (AH)" : "", standin_dev->name);
	return 0;

out_sysctl:
	unregister_sysctl_table(standin_sysctl_header);
out_proc:
	standin_proc_cleanup();
out_ah:
	if (claim_protocols)
		standin_del_protocol(&standin_ah_protocol, IPPROTO_AH);
out_esp:
	if (claim_protocols)
		standin_del_protocol(&standin_esp_protocol, IPPROTO_ESP);
out_sock:
	sock_unregister(PF_KEY);
out_proto:
	proto_unregister(&standin_key_proto);
	pr_err("ipsec: stand-in: init failed with error %d; nothing is left behind\n", err);
	return err;
}

static void __exit standin_exit(void)
{
	if (exit_delay_ms) {
		pr_info("ipsec: stand-in: staying GOING for %u ms (exit_delay_ms)\n", exit_delay_ms);
		msleep(exit_delay_ms);
	}
	unregister_netdev(standin_dev);
	free_netdev(standin_dev);
	standin_dev = NULL;
	unregister_sysctl_table(standin_sysctl_header);
	standin_proc_cleanup();
	if (claim_protocols) {
		standin_del_protocol(&standin_ah_protocol, IPPROTO_AH);
		standin_del_protocol(&standin_esp_protocol, IPPROTO_ESP);
	}
	sock_unregister(PF_KEY);
	proto_unregister(&standin_key_proto);
	pr_info("ipsec: stackmgr KLIPS test stand-in unloaded\n");
}

module_init(standin_init);
module_exit(standin_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST STAND-IN for FreeS/WAN KLIPS (not KLIPS): PF_KEY, ESP/AH handlers, /proc/net/ipsec, ipsec0");
MODULE_AUTHOR("stackmgr tests");
MODULE_VERSION("2.06-standin");
