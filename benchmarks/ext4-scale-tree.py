#!/usr/bin/env python3
"""Adds the generated part of the ext4 scale-mode tree (benchmarks/compare-mke2fs.sh --scale) to a directory.

Usage: ext4-scale-tree.py <tree> <data-bytes>

The caller has already copied a real system tree (the debootstrap minbase) into <tree>; this adds, until about
<data-bytes> bytes of file data have been written (the bytes already in <tree> count):
  - 30,000 small files (0 to 4 KiB, some empty) in one directory, var/cache/many/;
  - deep directories: srv/deep/chain-K/d00/d01/... (64 levels), a small file at every level;
  - 2,000 symbolic links in usr/local/bin/ (short targets stored in the inode, long ones in a block);
  - sparse files in var/lib/vm/: 1 MiB of data every 8 MiB, holes between and at the end;
  - large files of 256 MiB in var/lib/images/ (about 35 % of the remaining budget);
  - mid-size files (16 KiB to 8 MiB, log-uniform sizes) in opt/app-NN/lib/ (the rest), every tenth one hard-linked
    into opt/links/, one file with five names.
All content comes from seeded generators (random.Random, one seed per file): the same arguments give the same tree,
byte for byte, with fixed modification times. File data is incompressible.
"""
import os
import random
import sys

KIB = 1024
MIB = 1024 * KIB
FIXED_TIME = 1_700_000_000  # 2023-11-14, every generated entry's atime and mtime
CHUNK = 4 * MIB


def write_random(path, size, seed):
    rng = random.Random(repr(seed))
    with open(path, 'wb') as f:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            f.write(rng.randbytes(n))
            left -= n
    os.utime(path, (FIXED_TIME, FIXED_TIME))
    return size


def write_sparse(path, apparent, seed):
    """1 MiB of data at the start of every 8 MiB; the file ends in a hole. Returns the data bytes."""
    rng = random.Random(repr(seed))
    data = 0
    with open(path, 'wb') as f:
        for offset in range(0, apparent - 8 * MIB + 1, 8 * MIB):
            f.seek(offset)
            f.write(rng.randbytes(MIB))
            data += MIB
        f.truncate(apparent)
    os.utime(path, (FIXED_TIME, FIXED_TIME))
    return data


def tree_bytes(root):
    total = 0
    seen = set()
    for d, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(d, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if not os.path.islink(os.path.join(d, name)):
                total += st.st_size
    return total


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root = sys.argv[1]
    budget = int(sys.argv[2])
    written = tree_bytes(root)

    # One directory of 30,000 small files.
    many = os.path.join(root, 'var/cache/many')
    os.makedirs(many)
    rng = random.Random(14_0001)
    for i in range(30_000):
        size = 0 if i % 17 == 0 else rng.randrange(1, 4 * KIB)
        written += write_random(os.path.join(many, 'entry-%05d.dat' % i), size, (1, i))

    # Deep directories with a file at every level.
    for chain in range(4):
        d = os.path.join(root, 'srv/deep/chain-%d' % chain)
        for level in range(64):
            d = os.path.join(d, 'd%02d' % level)
            os.makedirs(d)
            written += write_random(os.path.join(d, 'level.txt'), 100 + level, (2, chain, level))

    # Symbolic links: short (fast, in the inode) and long (a data block) targets.
    bin_dir = os.path.join(root, 'usr/local/bin')
    os.makedirs(bin_dir, exist_ok=True)
    for i in range(2_000):
        target = ('../../bin/tool-%d' % i) if i % 4 else ('/opt/app-%02d/lib/' % (i % 50)) + 'a-rather-long-target-name-' * 3 + str(i)
        os.symlink(target, os.path.join(bin_dir, 'link-%04d' % i))

    # Sparse files.
    vm = os.path.join(root, 'var/lib/vm')
    os.makedirs(vm)
    sparse_count = max(2, budget // (1024 * MIB))
    for i in range(sparse_count):
        written += write_sparse(os.path.join(vm, 'disk-%02d.raw' % i), 256 * MIB + 4 * MIB, (3, i))

    # Large files: about 35 % of what is left.
    left = max(0, budget - written)
    images = os.path.join(root, 'var/lib/images')
    os.makedirs(images)
    large = max(1, int(left * 0.35) // (256 * MIB))
    for i in range(large):
        written += write_random(os.path.join(images, 'large-%02d.bin' % i), 256 * MIB, (4, i))

    # Mid-size files until the budget is reached; hard links to every tenth.
    links = os.path.join(root, 'opt/links')
    os.makedirs(links)
    rng = random.Random(14_0005)
    i = 0
    while written < budget:
        app = os.path.join(root, 'opt/app-%02d/lib' % (i // 50))
        os.makedirs(app, exist_ok=True)
        size = min(int(2 ** rng.uniform(14, 23)), budget - written) if budget - written > 16 * KIB else 16 * KIB
        size += rng.randrange(0, 4 * KIB)  # rarely block-aligned
        path = os.path.join(app, 'module-%05d.so' % i)
        written += write_random(path, size, (5, i))
        if i % 10 == 0:
            os.link(path, os.path.join(links, 'module-%05d.so' % i))
        if i == 7:
            for k in range(4):
                os.link(path, os.path.join(links, 'alias-%d.so' % k))
        i += 1

    # Fixed directory times (adding entries changed them).
    for d, _, _ in os.walk(root):
        os.utime(d, (FIXED_TIME, FIXED_TIME), follow_symlinks=False)
    print('generated tree: %d bytes of file data' % written)


if __name__ == '__main__':
    main()
