from vibetuner.cli import main

main()
