// The Linux calls of DiskImage.Interop serve several areas (host trees, cpio extraction); make them visible to all.
global using DiskImage.Interop;
