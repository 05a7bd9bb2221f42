from learnsync.cli.main import main

main()
