"""The CLI is a thin shell: known errors become one plain line and exit status 2."""

from click.testing import CliRunner

from goodpractice.cli import main


def write_panel(folder, units: str, outcome_rows: str) -> None:
    """A one-indicator panel: units.csv as given, indicator x, outcomes.csv with these rows."""
    (folder / "units.csv").write_text(units)
    (folder / "indicators.csv").write_text(
        "indicator,label,kind,higher_is_better,multiplier\nx,X,rate,false,1000\n"
    )
    (folder / "outcomes.csv").write_text(
        "unit,period,indicator,numerator,denominator\n" + outcome_rows
    )


def test_check_reports_the_place_without_traceback(tmp_path):
    write_panel(tmp_path, "unit,name,level,parent\na,A,force,\n", "a,2024-01,x,lots,100\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert "outcomes.csv, row 2, column 'numerator'" in result.output
    assert "Traceback" not in result.output


def test_check_summarises_a_valid_panel(tmp_path):
    write_panel(tmp_path, "unit,name,level,parent,population\na,A,borough,,10\n",
                "a,2024-01,x,3,100\na,2024-02,x,4,100\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 monthly, 2024-01 .. 2024-02" in result.output
    assert "resources   none" in result.output


def test_every_command_has_help_with_an_example():
    for name, command in main.commands.items():
        assert command.help, f"command {name} has no help"
        if not hasattr(command, "commands"):
            assert "Example" in command.help, f"command {name} has no example"
