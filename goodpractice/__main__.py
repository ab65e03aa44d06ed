from goodpractice.cli import main

main(prog_name="goodpractice")
