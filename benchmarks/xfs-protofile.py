#!/usr/bin/env python3
"""Writes an mkfs.xfs protofile (the format mkfs.xfs -p reads) describing a directory tree.

Usage: xfs-protofile.py <tree>  (protofile on stdout). Regular files name their host path; symlinks, devices,
FIFOs and directories are described inline; sockets are left out (protofiles cannot express them); hard links
become separate copies; names with whitespace are skipped (the format is whitespace-separated).
"""
import os
import stat
import sys


def mode_token(st):
    m = st.st_mode
    kind = {stat.S_IFREG: '-', stat.S_IFDIR: 'd', stat.S_IFLNK: 'l', stat.S_IFCHR: 'c', stat.S_IFBLK: 'b', stat.S_IFIFO: 'p'}[stat.S_IFMT(m)]
    return '%s%s%s%03o' % (kind, 'u' if m & stat.S_ISUID else '-', 'g' if m & stat.S_ISGID else '-', m & 0o777)


def walk(path, depth, out):
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        st = os.lstat(full)
        if any(c.isspace() for c in name) or stat.S_ISSOCK(st.st_mode):
            continue
        pad = ' ' * depth
        line = '%s%s %s %d %d' % (pad, name, mode_token(st), st.st_uid, st.st_gid)
        if stat.S_ISREG(st.st_mode):
            out.write('%s %s\n' % (line, full))
        elif stat.S_ISLNK(st.st_mode):
            out.write('%s %s\n' % (line, os.readlink(full)))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            out.write('%s %d %d\n' % (line, os.major(st.st_rdev), os.minor(st.st_rdev)))
        elif stat.S_ISDIR(st.st_mode):
            out.write(line + '\n')
            walk(full, depth + 1, out)
            out.write(pad + ' $\n')
        else:
            out.write(line + '\n')


def main():
    root = sys.argv[1]
    st = os.lstat(root)
    out = sys.stdout
    out.write('/dev/null\n0 0\n%s %d %d\n' % (mode_token(st), st.st_uid, st.st_gid))
    walk(root, 1, out)
    out.write('$\n')


main()
