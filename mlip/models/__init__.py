"""Models: configuration, the equivariant network, the autograd wrapper, Hessians."""
