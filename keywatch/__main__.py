from keywatch.cli import main

main()
