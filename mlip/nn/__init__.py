"""Neural-network building blocks (radial, angular, tensor product, interaction, readout)."""
