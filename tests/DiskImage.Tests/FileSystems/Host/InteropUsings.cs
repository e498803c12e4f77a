// Tests that create special files or inspect host metadata use the library's Linux calls.
global using DiskImage.Interop;
