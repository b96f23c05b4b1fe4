"""Result files and their shapes, at the bottom of the import layers so every layer (server, report, campaign,
CLI) reads and writes them through one module instead of reaching up into the package that produced them."""
