"""Pure values and documents: references, digests, media types, platforms, descriptors,
manifests, indexes, image configs, challenges. Standard library only, no I/O."""
