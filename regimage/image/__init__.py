"""The walker and its handlers, and Image with its answers (config, rootfs, size, platforms).
Works on any Provider; never imports httpx."""
